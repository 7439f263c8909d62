/**
 * Images (zun-api.md a.4): the images present on the hosts, asked of each
 * live host actor (`images` op) on every read. There is no image database
 * and no registry here:
 *
 * - list / show: every tagged image of every live host; the uuid is derived
 *   from (host, image id, repo:tag), so it is stable while the image is there;
 *   a committed image has the uuid its commit answered with (domain/images.ts).
 *   A host that does not answer is left out of a list (and logged).
 * - pull (POST /v1/images): `image_pull_policy` against what the host has:
 *   `never` and `ifnotpresent` use a present image; `always` tries to pull and,
 *   since there is no registry, succeeds as a no-op when the image is present
 *   (as the host actor does on create) and fails with a clear 400
 *   ImageNotFound when it is absent. Synchronous, unlike Zun's.
 * - delete: removes that repo:tag from its host (Docker untags; the image goes
 *   when no tag is left). An image in use is a 409.
 * - search: over the local images of the live hosts only (Zun searches Docker
 *   Hub); substring match on the repository, or exact with exact_match.
 *
 * Admin-only by Zun's default policies, except search (admin or owner).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ImagePullPolicy } from '../../../events/index.js';
import type { Logger } from '../../platform/log.js';
import { splitImage, type LocalImage } from '../../host-actor/rpc-extras.js';
import { uuidLike } from '../app.js';
import { InvalidValue, SchemaValidationError, UnsupportedMediaType, ZunError } from '../errors.js';
import { isUp, type HostDirectory, type HostEntry } from '../host-directory.js';
import { hostError, type HostRpcClient } from '../host-rpc.js';
import { enforce } from '../policy.js';
import { isObject } from '../validate.js';
import { buildUrl } from '../views.js';
import { BOOL_STRINGS, Schemas, pageOf, parsePageQuery, queryOf, sendNull, strictBool, validateParams, type RouteKit } from './kit.js';

export class ImageNotFound extends ZunError {
  constructor(message: string) {
    super(400, 'image-not-found', message);
    this.name = 'ImageNotFound';
  }
}

export interface HostImage {
  readonly uuid: string;
  readonly host: string;
  readonly imageId: string;
  readonly repo: string;
  readonly tag: string;
  readonly size: number;
}

/** A name-based uuid (SHA-1, version 5 layout) for an image on a host. */
export function imageUuid(host: string, imageId: string, repoTag: string): string {
  const h = createHash('sha1').update(`zun-image:${host}\n${imageId}\n${repoTag}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function hostImages(host: string, images: readonly LocalImage[]): HostImage[] {
  const out: HostImage[] = [];
  for (const i of images) {
    for (const rt of i.repoTags) {
      const { repo, tag } = splitImage(rt);
      const ref = `${repo}:${tag}`;
      // A committed image answers to the uuid its commit was given, under the reference it was made as.
      const uuid = i.committed?.ref === ref ? i.committed.uuid : imageUuid(host, i.id, ref);
      out.push({ uuid, host, imageId: i.id, repo, tag, size: i.size });
    }
  }
  return out;
}

/** views/images_view.py format_image. */
export function imageView(baseUrl: string, i: HostImage, policy: ImagePullPolicy | null = null) {
  return {
    uuid: i.uuid,
    links: [
      { href: buildUrl(baseUrl, 'images', i.uuid), rel: 'self' },
      { href: buildUrl(baseUrl, 'images', i.uuid, true), rel: 'bookmark' },
    ],
    image_id: i.imageId,
    repo: i.repo,
    tag: i.tag,
    size: i.size,
    project_id: null,
    image_pull_policy: policy,
    host: i.host,
  };
}

const SORT_KEYS = ['id', 'uuid', 'repo', 'tag', 'size', 'host', 'image_id'] as const;

export async function imageRoutes(app: FastifyInstance, o: { kit: RouteKit; directory: HostDirectory; rpc: HostRpcClient; log: Logger }): Promise<void> {
  const { kit, directory, rpc } = o;
  const log = o.log.child({ component: 'images' });

  async function imagesOf(e: HostEntry): Promise<HostImage[]> {
    return hostImages(e.hostname, await rpc.call<LocalImage[]>(e.hostname, { op: 'images' }));
  }

  /** Every image of every live host; hosts that do not answer are left out. */
  async function allImages(): Promise<HostImage[]> {
    const hosts = (await directory.list()).filter(isUp);
    const lists = await Promise.all(
      hosts.map((e) =>
        imagesOf(e).catch((err: unknown) => {
          log.warn({ host: e.hostname, err: (err as Error)?.message ?? String(err) }, 'host left out of the image list');
          return [] as HostImage[];
        }),
      ),
    );
    return lists.flat();
  }

  async function find(ident: string): Promise<HostImage> {
    const uuid = uuidLike(ident);
    const all = await allImages();
    const found = uuid ? all.filter((i) => i.uuid === uuid) : all.filter((i) => `${i.repo}:${i.tag}` === ident || i.repo === ident);
    if (found.length === 0) throw new ImageNotFound(`Image ${ident} could not be found.`);
    if (found.length > 1) throw new ZunError(409, 'conflict', `Multiple images exist with the name ${ident}. Please use the image uuid instead.`);
    return found[0]!;
  }

  const baseUrl = (req: FastifyRequest) => kit.baseUrlOf(req);

  app.get('/v1/images', async (req) => {
    enforce(kit.ctxOf(req), 'image:get_all');
    const q = parsePageQuery(queryOf(req), 'id', SORT_KEYS);
    const items = await allImages();
    const key = (i: HostImage) => {
      switch (q.sortKey) {
        case 'repo':
          return i.repo;
        case 'tag':
          return i.tag;
        case 'size':
          return i.size;
        case 'host':
          return i.host;
        case 'image_id':
          return i.imageId;
        case 'uuid':
          return i.uuid;
        default:
          return `${i.host}\n${i.repo}:${i.tag}`;
      }
    };
    const { page, next } = pageOf(items, q, key, (m) => new ImageNotFound(`Image ${m} could not be found.`), { baseUrl: baseUrl(req), resource: 'images' });
    return { images: page.map((i) => imageView(baseUrl(req), i)), next };
  });

  app.get('/v1/images/:ident', async (req) => {
    const i = await find((req.params as { ident: string }).ident);
    enforce(kit.ctxOf(req), 'image:get_one');
    return imageView(baseUrl(req), i);
  });

  app.post('/v1/images', async (req, reply) => {
    const essence = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (essence.toLowerCase() !== 'application/json') throw new UnsupportedMediaType(essence);
    const body = isObject(req.body) ? (req.body as Record<string, unknown>) : {};
    const p = validateParams('body', body, {
      image_id: Schemas.imageId,
      repo: Schemas.repo,
      tag: Schemas.imageId,
      size: Schemas.size,
      image_pull_policy: Schemas.imagePullPolicy,
      host: Schemas.imageHost,
    });
    for (const k of ['repo', 'host']) if (p[k] === undefined) throw new SchemaValidationError(`'${k}' is a required property`);
    enforce(kit.ctxOf(req), 'image:pull');
    const hostIdent = String(p['host']);
    const uuid = uuidLike(hostIdent);
    const entry = (await directory.list()).find((e) => (uuid ? e.record.uuid === uuid : e.hostname === hostIdent));
    if (!entry) throw new InvalidValue(`The host ${hostIdent} does not exist.`);
    const policy = (typeof p['image_pull_policy'] === 'string' ? p['image_pull_policy'].toLowerCase() : 'always') as ImagePullPolicy;
    const repoTag = String(p['repo']);
    let result: { image: LocalImage; pulled: boolean };
    try {
      result = await rpc.call(entry.hostname, { op: 'image_pull', image: repoTag, policy });
    } catch (err) {
      throw hostError(err, repoTag);
    }
    const { repo, tag } = splitImage(repoTag);
    const img: HostImage = {
      uuid: imageUuid(entry.hostname, result.image.id, `${repo}:${tag}`),
      host: entry.hostname,
      imageId: result.image.id,
      repo,
      tag,
      size: result.image.size,
    };
    req.log.info({ host: entry.hostname, image: `${repo}:${tag}`, policy, pulled: result.pulled }, 'image pull');
    return reply.code(202).header('location', buildUrl(baseUrl(req), 'images', img.uuid)).send(imageView(baseUrl(req), img, policy));
  });

  app.delete('/v1/images/:ident', async (req, reply) => {
    enforce(kit.ctxOf(req), 'image:delete');
    const i = await find((req.params as { ident: string }).ident);
    try {
      await rpc.call(i.host, { op: 'image_remove', image: `${i.repo}:${i.tag}` });
    } catch (err) {
      throw hostError(err, `${i.repo}:${i.tag}`);
    }
    return sendNull(reply, 200);
  });

  app.get('/v1/images/:image/search', async (req) => {
    const q = validateParams('query', queryOf(req), { image_driver: Schemas.imageDriver, exact_match: Schemas.boolean });
    enforce(kit.ctxOf(req), 'image:search');
    const exact = strictBool(q['exact_match'], false, () => new InvalidValue(`Valid exact_match values are: ${BOOL_STRINGS}`));
    const driver = q['image_driver'] === undefined || q['image_driver'] === null || q['image_driver'] === 'None' ? 'docker' : String(q['image_driver']);
    if (driver !== 'docker') throw new InvalidValue(`Image search with image_driver ${driver} is not supported: only the hosts' local Docker images are searched.`);
    const term = splitImage((req.params as { image: string }).image).repo;
    const byRepo = new Map<string, { tags: Set<string>; hosts: Set<string> }>();
    for (const i of await allImages()) {
      if (exact ? i.repo !== term : !i.repo.includes(term)) continue;
      const r = byRepo.get(i.repo) ?? { tags: new Set(), hosts: new Set() };
      r.tags.add(i.tag);
      r.hosts.add(i.host);
      byRepo.set(i.repo, r);
    }
    return [...byRepo.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, r]) => ({
        name,
        description: `local image on ${[...r.hosts].sort().join(', ')}`,
        is_automated: false,
        metadata: { is_official: false, star_count: 0 },
        tags: [...r.tags].sort(),
        hosts: [...r.hosts].sort(),
      }));
  });
}
