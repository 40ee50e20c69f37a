// A minimal typing of the part of autocannon the harness uses (the package ships none).
declare module 'autocannon' {
  export interface Histogram { average: number; mean: number; p50: number; p99: number; max: number }
  export interface Request { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; setupRequest?: (req: Request) => Request }
  export interface Options {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    requests?: Request[];
    pipelining?: number;
    timeout?: number;
  }
  export interface Result { requests: Histogram; latency: Histogram; non2xx: number; errors: number; timeouts: number; '2xx': number; duration: number }
  function autocannon(options: Options): Promise<Result> & { stop(): void };
  export default autocannon;
}
