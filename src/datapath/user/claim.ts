// A port's frames belong to the switch. The ring socket gets its copy of every
// frame first (packet taps run before tc ingress); then vsw_claim, attached at
// the port's tc ingress (a tcx link or a tc filter, as the kernel datapath's
// program: ../bpf.ts), drops the frame so that the host's own stack (IPv4,
// ARP, IPv6/ND) never sees it, as a Linux bridge port's rx_handler consumes
// it. A tcx link belongs to a file descriptor of vswitchd: closing it, or
// vswitchd exiting in any way (kill -9 included), detaches the program; a tc
// filter is removed by vswitchd, or its watchdog if vswitchd dies (../tc.ts).

import { BpfObject } from '../../native/libbpf.js';
import { CLAIM_OBJECT_PATH, Ingress } from '../bpf.js';

export class PortClaim {
  private readonly progFd: number;

  private constructor(
    private readonly obj: BpfObject,
    private readonly ingress: Ingress,
  ) {
    this.progFd = obj.programFd('vsw_claim');
  }

  /** Loads the program; throws (with the reason) where the kernel or libbpf cannot. */
  static load(ingress = new Ingress(), path = CLAIM_OBJECT_PATH): PortClaim {
    const obj = BpfObject.load(path);
    try {
      return new PortClaim(obj, ingress);
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /** Claims the frames arriving on `ifindex`; returns the attachment, to be given to release(). */
  attach(ifindex: number, ifname: string): number {
    return this.ingress.attach(this.progFd, ifindex, ifname);
  }

  release(linkFd: number): void {
    this.ingress.detach(linkFd);
  }

  close(): void {
    this.obj.close();
  }
}
