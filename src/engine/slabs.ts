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
 */

/** Sizes are rounded up to a power of two from here, so freed slabs fit later requests. */
const smallestSlab = 64 * 1024;
/** Free slabs kept for reuse at most; beyond this they are left to the garbage collector. */
const keepFreeBytes = 64 * 1024 * 1024;

/** A shared buffer with a reference count; it returns to its pool when the count drops to zero. */
export interface Slab {
  readonly buf: Buffer;
}

interface _Slab extends Slab {
  refs: number;
}

/** Hands out {@link Slab}s and takes them back. */
export class SlabPool {
  private readonly free = new Map<number, _Slab[]>();
  private freeBytes = 0;
  private readonly live = new WeakMap<ArrayBufferLike, _Slab>();
  private held = 0;

  /** Slabs somebody still holds a reference to (0 once a backup has let go of everything). */
  get inUse(): number {
    return this.held;
  }

  /** A slab of at least `size` bytes, with one reference held by the caller. Its contents are undefined. */
  acquire(size: number): Slab {
    let cap = smallestSlab;
    while (cap < size) cap *= 2;
    const reused = this.free.get(cap)?.pop();
    this.held++;
    if (reused) {
      this.freeBytes -= cap;
      reused.refs = 1;
      return reused;
    }
    const slab: _Slab = { buf: Buffer.from(new SharedArrayBuffer(cap)), refs: 1 };
    this.live.set(slab.buf.buffer, slab);
    return slab;
  }

  /** True when `view` lies in a slab of this pool. */
  owns(view: Uint8Array): boolean {
    return this.live.has(view.buffer);
  }

  /** Takes another reference to the slab `view` lies in (a chunk cut from it, say). */
  retain(view: Uint8Array): void {
    this._slab(view).refs++;
  }

  /** Drops one reference to the slab `view` lies in; the last one returns it to the pool. */
  release(view: Uint8Array): void {
    const slab = this._slab(view);
    if (slab.refs <= 0) throw new Error('slab released more often than retained');
    if (--slab.refs > 0) return;
    this.held--;
    const cap = slab.buf.length;
    if (this.freeBytes + cap > keepFreeBytes) return;
    const list = this.free.get(cap);
    if (list) list.push(slab);
    else this.free.set(cap, [slab]);
    this.freeBytes += cap;
  }

  private _slab(view: Uint8Array): _Slab {
    const slab = this.live.get(view.buffer);
    if (!slab) throw new Error('not a slab of this pool');
    return slab;
  }
}
