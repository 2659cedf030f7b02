import { loadCheckpoint } from './trainer/checkpoint.ts';
import { vaeSessions } from './trainer/ort/inference.ts';
import { loadPresetData } from './trainer/data/preset-data.ts';
import { getPreset } from './trainer/presets.ts';
import { validateVaeConfig } from './models/nn/configs.ts';
const p = getPreset('emoji');
const ck = loadCheckpoint(process.argv[2])!;
const w = (net: string) => new Map([...ck.tensors].filter(([k]) => k.startsWith(`param:${net}/`)).map(([k, v]) => [k.slice(`param:${net}/`.length), v]));
const cfg = validateVaeConfig({ ...p.vae, inChannels: 3 });
const vae = await vaeSessions(cfg, 64, w('vae_encoder'), w('vae_decoder'));
const d = await loadPresetData(p.data, 1, 64);
const imgs = d.heldOut.samples;
const ps: number[] = []; const ch=[0,0,0]; let cnt=0;
for (let i = 0; i < imgs.length; i += 32) {
  const b = imgs.slice(i, i + 32); const x = new Float32Array(b.length * 64 * 64 * 3); b.forEach((s, k) => x.set(s.image.data, k * 12288));
  const y = await vae.decode(await vae.encode(x, b.length), b.length);
  b.forEach((_, k) => { let se = 0; for (let j = 0; j < 12288; j++) { const v = Math.max(-1, Math.min(1, y[k*12288+j])); se += (v - x[k*12288+j]) ** 2; ch[j%3]+= v - x[k*12288+j]; } ps.push(10 * Math.log10(4 / (se / 12288))); });
  cnt += b.length*4096;
}
ps.sort((a,b)=>a-b);
console.log(`step ${ck.step}: held-out PSNR mean ${(ps.reduce((a,b)=>a+b,0)/ps.length).toFixed(2)} p10 ${ps[Math.floor(0.1*(ps.length-1))].toFixed(2)} channel mean err ${ch.map(c=>(c/cnt*127.5).toFixed(2))}`);
