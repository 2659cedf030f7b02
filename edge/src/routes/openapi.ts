import { Hono } from 'hono';
import { MAX_PROMPT_CHARS, MAX_PROMPTS } from '../lib/limits.ts';
import type { AppEnv } from '../env.ts';

const error = { $ref: '#/components/schemas/Error' };
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), { description: 'error', content: { 'application/json': { schema: error } } }]));

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'edge-diffusion edge API', version: '1.0.0', description: 'Prompt embeddings, model bundles and publishing for in-browser text-to-image.' },
  components: {
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
    },
    securitySchemes: { publishToken: { type: 'http', scheme: 'bearer' } },
  },
  paths: {
    '/v1/models': { get: { summary: 'List published models (latest versions)', responses: { '200': { description: '{models: [{name, version, imageSize, defaults}]}' } } } },
    '/v1/models/{ref}': {
      get: {
        summary: 'Manifest of a model: name (latest) or name@version (immutable)',
        parameters: [{ name: 'ref', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'bundle manifest' }, ...errors(400, 404) },
      },
    },
    '/v1/models/{name}/{version}/{path}': {
      get: {
        summary: 'A bundle file: ETag, If-None-Match (304), Range (206, 416), immutable caching',
        parameters: ['name', 'version', 'path'].map((n) => ({ name: n, in: 'path', required: true, schema: { type: 'string' } })),
        responses: { '200': { description: 'file' }, '206': { description: 'byte range' }, '304': { description: 'not modified' }, ...errors(400, 404, 416) },
      },
    },
    '/v1/embeddings': {
      post: {
        summary: 'Per-token text-encoder states for prompts and the negative (or empty) prompt; or, in the OpenAI shape (`input`), pooled CLIP text embeddings',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  {
                    type: 'object',
                    required: ['model', 'prompts'],
                    additionalProperties: false,
                    properties: {
                      model: { type: 'string', description: 'name or name@version' },
                      prompts: { type: 'array', minItems: 1, maxItems: MAX_PROMPTS, items: { type: 'string', maxLength: MAX_PROMPT_CHARS } },
                      negative_prompt: { type: 'string', maxLength: MAX_PROMPT_CHARS },
                      format: { enum: ['json', 'f32', 'f16'], default: 'json' },
                    },
                  },
                  {
                    type: 'object',
                    required: ['model', 'input'],
                    additionalProperties: false,
                    properties: {
                      model: { type: 'string', description: 'name or name@version' },
                      input: { oneOf: [{ type: 'string', maxLength: MAX_PROMPT_CHARS }, { type: 'array', minItems: 1, maxItems: MAX_PROMPTS, items: { type: 'string', maxLength: MAX_PROMPT_CHARS } }] },
                      encoding_format: { enum: ['float', 'base64'], default: 'float' },
                      dimensions: { type: 'integer', description: "must equal the model's projection size" },
                      user: { type: 'string', maxLength: 256 },
                    },
                  },
                ],
              },
            },
          },
        },
        responses: {
          '200': {
            description:
              'prompts: JSON {embeddings [n][T][D], negative [T][D], cache} or binary (n+1)·T·D floats; x-cache: hit|miss|partial, x-embedding-dims. input: OpenAI {object: list, data: [{object: embedding, index, embedding}], model, usage}',
          },
          ...errors(400, 404, 415),
        },
      },
    },
    '/v1/admin/objects/{key}': {
      put: { summary: 'Upload a bundle object (x-content-sha256 required)', security: [{ publishToken: [] }], responses: { '201': { description: 'stored' }, ...errors(400, 401, 403, 409, 413) } },
      head: { summary: 'Whether an object is stored, and its SHA-256', security: [{ publishToken: [] }], responses: { '200': { description: 'stored' }, '404': { description: 'absent' } } },
    },
    '/v1/admin/models/{name}/latest': {
      put: { summary: 'Switch latest to a complete version', security: [{ publishToken: [] }], responses: { '200': { description: 'switched' }, ...errors(400, 401, 403, 409) } },
    },
  },
};

export const openapi = new Hono<AppEnv>();
openapi.get('/', (c) => c.json(openApiDocument));
