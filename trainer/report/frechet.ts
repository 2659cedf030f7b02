/** Eigenvalues and eigenvectors of a symmetric matrix (row-major n×n) by cyclic Jacobi rotations. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]), vectors: v };
}

function meanCov(x: Float32Array[], d: number): { mu: Float64Array; cov: Float64Array } {
  const mu = new Float64Array(d);
  for (const r of x) for (let i = 0; i < d; i++) mu[i] += r[i] / x.length;
  const cov = new Float64Array(d * d);
  for (const r of x)
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] += ((r[i] - mu[i]) * (r[j] - mu[j])) / Math.max(1, x.length - 1);
  return { mu, cov };
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) out[i * n + j] += a[i * n + k] * b[k * n + j];
  return out;
}

/**
 * Fréchet distance between Gaussians fitted to two feature sets (as FID, on our own CLIP image features):
 * |μ₁−μ₂|² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), with Tr((Σ₁Σ₂)^½) = Σ √eig(Σ₁^½ Σ₂ Σ₁^½).
 */
export function frechetDistance(a: Float32Array[], b: Float32Array[]): number {
  const d = a[0].length;
  const A = meanCov(a, d);
  const B = meanCov(b, d);
  const e = symmetricEigen(A.cov, d);
  const sq = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += e.vectors[i * d + k] * Math.sqrt(Math.max(e.values[k], 0)) * e.vectors[j * d + k];
      sq[i * d + j] = s;
    }
  const inner = symmetricEigen(matmul(matmul(sq, B.cov, d), sq, d), d).values;
  let trace = 0;
  for (let i = 0; i < d; i++) trace += A.cov[i * d + i] + B.cov[i * d + i];
  const cross = inner.reduce((s, v) => s + Math.sqrt(Math.max(v, 0)), 0);
  let dmu = 0;
  for (let i = 0; i < d; i++) dmu += (A.mu[i] - B.mu[i]) ** 2;
  return dmu + trace - 2 * cross;
}
