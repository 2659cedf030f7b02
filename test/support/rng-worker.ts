import { createRng } from '../../models/diffusion/rng.ts';

// Returns the raw float64 bits of the first samples for ?seed=&n=, to compare bit for bit with Node.
export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    const rng = createRng(Number(url.searchParams.get('seed')));
    const n = Number(url.searchParams.get('n'));
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = rng.next();
    return new Response(values.buffer);
  },
};
