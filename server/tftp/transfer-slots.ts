/**
 * How many transfers may run at once, in all and per client address. Each transfer holds a UDP
 * socket, an open file and a read buffer until it ends, and a client that sends read requests and
 * never acknowledges holds them until the transfer times out: without a cap, 1,000 such requests
 * took the server to 640 MB and 2,058 descriptors. A request over either cap is refused at once
 * (the client may retry), before any file is opened.
 */
export interface SlotLimits {
  /** Transfers in progress at once, all clients together. */
  total: number;
  /** Transfers in progress at once from one IP address (a PXE ROM needs one; iPXE a few). */
  perAddress: number;
}

export type SlotAnswer = { ok: true; release: () => void } | { ok: false; reason: string };

export class TransferSlots {
  private inUse = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: SlotLimits) {}

  take(address: string): SlotAnswer {
    const mine = this.byAddress.get(address) ?? 0;
    if (mine >= this.limits.perAddress) {
      return { ok: false, reason: `server busy: ${address} already has ${mine} transfers in progress (at most ${this.limits.perAddress} per address); retry when one ends` };
    }
    if (this.inUse >= this.limits.total) {
      return { ok: false, reason: `server busy: ${this.inUse} transfers in progress (at most ${this.limits.total}); retry in a few seconds` };
    }
    this.inUse++;
    this.byAddress.set(address, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.inUse--;
        const left = (this.byAddress.get(address) ?? 1) - 1;
        if (left > 0) this.byAddress.set(address, left);
        else this.byAddress.delete(address);
      },
    };
  }

  get count(): number {
    return this.inUse;
  }
}
