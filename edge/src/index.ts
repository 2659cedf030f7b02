// First: onnxruntime-web reads location when it is evaluated (see the shim).
import './lib/location-shim.ts';
import { Hono } from 'hono';
import type { AppEnv } from './env.ts';
import { notFound, onError } from './errors.ts';
import { publicCors } from './middleware/cors.ts';
import { embeddingsRateLimit } from './middleware/rate-limit.ts';
import { admin } from './routes/admin.ts';
import { embeddings } from './routes/embeddings.ts';
import { models } from './routes/models.ts';
import { openapi } from './routes/openapi.ts';

export const app = new Hono<AppEnv>();

app.use('/v1/models/*', publicCors);
app.use('/v1/models', publicCors);
app.use('/v1/embeddings', publicCors, embeddingsRateLimit);
app.route('/v1/models', models);
app.route('/v1/embeddings', embeddings);
app.route('/v1/admin', admin);
app.route('/', openapi);
app.get('/v1/health', (c) => c.json({ ok: true }));
app.onError(onError);
app.notFound(notFound);

export default app;
