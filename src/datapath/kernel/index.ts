// The kernel datapath as the daemon starts it: the thread to run (worker.ts,
// which loads vsw_forward and keeps its maps).
export const KERNEL_WORKER = new URL('./worker.js', import.meta.url);
