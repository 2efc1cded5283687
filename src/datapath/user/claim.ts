// A port's frames belong to the switch. The ring socket gets its copy of every
// frame first (packet taps run before tc ingress); then vsw_claim, attached at
// the port's tc ingress as a tcx link, drops the frame so that the host's own
// stack (IPv4, ARP, IPv6/ND) never sees it, as a Linux bridge port's
// rx_handler consumes it. The link belongs to a file descriptor of vswitchd:
// closing it, or vswitchd exiting in any way (kill -9 included), detaches the
// program and gives the interface back as it was.

import { BpfObject } from '../../native/libbpf.js';
import { attachIngress, CLAIM_OBJECT_PATH, detachIngress } from '../bpf.js';

export class PortClaim {
  private readonly progFd: number;

  private constructor(private readonly obj: BpfObject) {
    this.progFd = obj.programFd('vsw_claim');
  }

  /** Loads the program; throws (with the reason) where the kernel or libbpf cannot. */
  static load(path = CLAIM_OBJECT_PATH): PortClaim {
    const obj = BpfObject.load(path);
    try {
      return new PortClaim(obj);
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /** Claims the frames arriving on `ifindex`; returns the link's fd, to be given to release(). */
  attach(ifindex: number, ifname: string): number {
    return attachIngress(this.progFd, ifindex, ifname);
  }

  release(linkFd: number): void {
    detachIngress(linkFd);
  }

  close(): void {
    this.obj.close();
  }
}
