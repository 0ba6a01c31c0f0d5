import type { FastifyInstance } from 'fastify';

/**
 * Stops accepting connections and resolves once every in-flight request has been answered.
 * Fastify's close waits for every connection to end, and a keep-alive connection whose request
 * finishes during the close would stay open until its keep-alive timeout (72 s): those are
 * closed as soon as they are idle. New requests on them meanwhile get 503 (Fastify's
 * `return503OnClosing`).
 */
export async function drainHttp(fastify: FastifyInstance): Promise<void> {
  const sweep = setInterval(() => fastify.server.closeIdleConnections(), 50);
  try {
    await fastify.close();
  } finally {
    clearInterval(sweep);
  }
}
