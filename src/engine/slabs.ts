/**
 * Read buffers that the encoding threads can see without a copy.
 *
 * A backup reads files into buffers, cuts them into chunks and hands every chunk to a worker
 * thread to hash, compress and encrypt. With ordinary buffers each chunk had to be copied into
 * an ArrayBuffer of its own to be transferred: a copy of every byte read, and a gigabyte of
 * short-lived allocations for the garbage collector per gigabyte backed up. A slab is a
 * SharedArrayBuffer instead: a worker reads the chunk where the file was read into, and the
 * slab goes back to the pool once nothing refers to it any more (the chunker has moved on and
 * every chunk cut from it has been encoded). Reference counts make that explicit.
 *
 * Slabs are all of one size and are never given up: a file's buffer is cut from the current
 * slab (several small files share one), and a slab is reused once every buffer cut from it is
 * released. Memory is then the most the backup ever had in flight, and stays there. (A first
 * design rounded each buffer to a power of two and dropped surplus slabs; a dropped
 * SharedArrayBuffer is freed only once every thread that saw it has collected its garbage,
 * which the encoding threads, with their tiny heaps, hardly ever do: a 1 GB backup made 300 MiB
 * of slabs for 60 MiB in use.) Only a request larger than a slab, which the archiver never
 * makes, gets a one-off slab.
 *
 * References are counted per slab, not per buffer: releasing one buffer twice goes unnoticed
 * until the slab's count would drop below zero.
 */

/**
 * The size of a slab: a chunk of at most 8 MiB plus the chunker's 2 MiB read. A larger request
 * gets a slab of its own, dropped after use.
 */
export const slabSize = 10 * 1024 * 1024;

/** A view into a slab, with one reference held by whoever acquired it. */
export interface Slab {
  readonly buf: Buffer;
}

interface _Slab {
  readonly buf: Buffer;
  /** References held by users (each acquired buffer, each retain). */
  refs: number;
  /** Whether later buffers are still cut from this slab (then it cannot go back to the pool). */
  current: boolean;
}

/** Hands out buffers cut from shared slabs and takes them back. */
export class SlabPool {
  private readonly free: _Slab[] = [];
  private current: _Slab | undefined;
  /** Bytes of the current slab already handed out. */
  private used = 0;
  private readonly live = new WeakMap<ArrayBufferLike, _Slab>();
  private held = 0;

  /** Slabs somebody still holds a reference to (0 once a backup has let go of everything). */
  get inUse(): number {
    return this.held;
  }

  /** A buffer of exactly `size` bytes, with one reference held by the caller. Its contents are undefined. */
  acquire(size: number): Slab {
    if (size > slabSize) return { buf: this.hold(this.make(size), 0, size) };
    let slab = this.current;
    if (!slab || this.used + size > slabSize) {
      if (slab) this.retire(slab);
      slab = this.free.pop() ?? this.make(slabSize);
      slab.current = true;
      this.current = slab;
      this.used = 0;
    }
    const at = this.used;
    // Buffers start at multiples of 64 bytes (cache lines), like the allocator's.
    this.used = Math.min(slabSize, at + Math.ceil(size / 64) * 64);
    return { buf: this.hold(slab, at, size) };
  }

  /** True when `view` lies in a slab of this pool. */
  owns(view: Uint8Array): boolean {
    return this.live.has(view.buffer);
  }

  /** Takes another reference to the slab `view` lies in (a chunk cut from it, say). */
  retain(view: Uint8Array): void {
    const slab = this._slab(view);
    if (slab.refs === 0) throw new Error('slab retained after it was released');
    slab.refs++;
  }

  /** Drops one reference to the slab `view` lies in; the last one returns it to the pool. */
  release(view: Uint8Array): void {
    const slab = this._slab(view);
    if (slab.refs <= 0) throw new Error('slab released more often than retained');
    if (--slab.refs > 0) return;
    this.held--;
    if (!slab.current && slab.buf.length === slabSize) this.free.push(slab);
  }

  private make(size: number): _Slab {
    const slab: _Slab = { buf: Buffer.from(new SharedArrayBuffer(size)), refs: 0, current: false };
    this.live.set(slab.buf.buffer, slab);
    return slab;
  }

  private hold(slab: _Slab, at: number, size: number): Buffer {
    if (slab.refs++ === 0) this.held++;
    return slab.buf.subarray(at, at + size);
  }

  /** No more buffers are cut from `slab`; it goes back to the pool as soon as nobody holds it. */
  private retire(slab: _Slab): void {
    slab.current = false;
    if (slab.refs === 0) this.free.push(slab);
  }

  private _slab(view: Uint8Array): _Slab {
    const slab = this.live.get(view.buffer);
    if (!slab) throw new Error('not a slab of this pool');
    return slab;
  }
}
