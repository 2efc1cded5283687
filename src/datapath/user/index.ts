// The userspace datapath as the daemon starts it: the thread to run
// (worker.ts, which owns every port's AF_PACKET socket and rings).
export const USER_WORKER = new URL('./worker.js', import.meta.url);
