import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { v4 as uuidv4 } from 'uuid';
import { wessError } from '../../errors.js';
import { maxMemoryPages } from '../../config/schema.js';
import { admitModule } from '../../modules/admission.js';
import type { ModuleRecord } from '../../store/types.js';
import {
  createJsonBody,
  etag,
  idParams,
  listQuery,
  parseIfMatch,
  parseWith,
  rawUpdateQuery,
  rawUploadQuery,
  updateJsonBody,
} from '../schemas.js';
import type { Services } from '../services.js';

const WASM_TYPES = ['application/wasm', 'application/octet-stream'];

function isRawWasm(request: FastifyRequest): boolean {
  return Buffer.isBuffer(request.body);
}

/** Looks a module up for a request, or answers MODULE_NOT_FOUND. */
export async function findModule(services: Services, request: FastifyRequest): Promise<ModuleRecord> {
  const { id } = parseWith(idParams, request.params, 'path');
  request.moduleId = id;
  const record = await services.reader.getModule(id);
  if (!record) throw wessError('MODULE_NOT_FOUND', `no module with id ${id}`);
  return record;
}

function decodeBase64(content: string, maxModuleSize: number): Uint8Array {
  // 4 base64 characters carry 3 bytes: refuse before decoding something far too big.
  if (Math.floor((content.length * 3) / 4) > maxModuleSize + 2) {
    throw wessError('PAYLOAD_TOO_LARGE', `module is larger than the limit of ${maxModuleSize} bytes`, {
      limit: maxModuleSize,
    });
  }
  return Buffer.from(content, 'base64');
}

/** Registers the module routes: create, list, get, content, update, delete. */
export function moduleRoutes(app: FastifyInstance, services: Services): void {
  const { config, reader, writer, runner } = services;
  const limits = {
    maxModuleSize: config.limits.max_module_size,
    maxMemoryPages: maxMemoryPages(config),
  };
  const admit = (bytes: Uint8Array) => admitModule(bytes, runner, limits);

  app.addContentTypeParser(WASM_TYPES, { parseAs: 'buffer', bodyLimit: config.limits.max_module_size }, (_req, body, done) =>
    done(null, body),
  );

  app.post('/modules', async (request, reply) => {
    let name: string;
    let bytes: Uint8Array;
    if (isRawWasm(request)) {
      ({ name } = parseWith(rawUploadQuery, request.query, 'query'));
      bytes = request.body as Buffer;
    } else {
      const body = parseWith(createJsonBody, request.body, 'body');
      name = body.name;
      bytes = decodeBase64(body.content, config.limits.max_module_size);
    }
    const content = await admit(bytes);
    const id = uuidv4();
    request.moduleId = id;
    const record = await writer.submit({ kind: 'create-module', id, name, content });
    return reply.code(201).header('location', `/modules/${record.id}`).header('etag', etag(record.version)).send(record);
  });

  app.get('/modules', async (request) => {
    const query = parseWith(listQuery, request.query, 'query');
    return reader.listModules(query.cursor === undefined ? { limit: query.limit } : { limit: query.limit, cursor: query.cursor });
  });

  app.get('/modules/:id', async (request, reply) => {
    const record = await findModule(services, request);
    return reply.header('etag', etag(record.version)).send(record);
  });

  app.get('/modules/:id/content', async (request, reply: FastifyReply) => {
    const record = await findModule(services, request);
    const bytes = await reader.getContent(record.sha256);
    if (!bytes) throw wessError('CONTENT_CORRUPT', `content ${record.sha256} of module ${record.id} is missing from the store`);
    return reply.type('application/wasm').header('x-wess-sha256', record.sha256).send(Buffer.from(bytes));
  });

  app.put('/modules/:id', async (request, reply) => {
    const expectVersion = parseIfMatch(request.headers['if-match']);
    const { id } = await findModule(services, request);
    let name: string | undefined;
    let bytes: Uint8Array | undefined;
    if (isRawWasm(request)) {
      ({ name } = parseWith(rawUpdateQuery, request.query, 'query'));
      bytes = request.body as Buffer;
    } else {
      const body = parseWith(updateJsonBody, request.body, 'body');
      name = body.name;
      if (body.content !== undefined) bytes = decodeBase64(body.content, config.limits.max_module_size);
    }
    // If-Match is checked by the writer against the batch it is building, not here: a check in the
    // route would race with a concurrent PUT queued behind it. A rename likewise keeps whatever
    // content is current when the writer gets to it, not what this route read.
    const record = bytes
      ? await writer.submit({ kind: 'update-module', id, name, content: await admit(bytes), expectVersion })
      : await writer.submit({ kind: 'rename-module', id, name: requireName(name), expectVersion });
    return reply.header('etag', etag(record.version)).send(record);
  });

  app.delete('/modules/:id', async (request, reply) => {
    const { id } = parseWith(idParams, request.params, 'path');
    request.moduleId = id;
    const expectVersion = parseIfMatch(request.headers['if-match']);
    await writer.submit({ kind: 'delete-module', id, expectVersion });
    return reply.code(204).send();
  });
}

/** The schema already refuses a PUT with neither name nor content; this narrows the type. */
function requireName(name: string | undefined): string {
  if (name === undefined) throw wessError('VALIDATION', 'body: give name, content or both');
  return name;
}
