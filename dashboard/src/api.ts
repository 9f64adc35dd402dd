// The two services over gRPC-web, on the page's own origin (the HTTP port
// bridges to the gRPC server), with the key added by one interceptor.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AdminService } from "@gen/cronstream/v1/admin_service_pb.js";
import { SchedulerService } from "@gen/cronstream/v1/scheduler_service_pb.js";
import { loadSession, type Session } from "./session";

/** The header the admin key names the platform it acts as with. */
export const PLATFORM_HEADER = "x-cronstream-platform";

function authInterceptor(override?: Session): Interceptor {
  return (next) => async (req) => {
    const session = override ?? loadSession();
    if (session !== undefined) {
      req.header.set("authorization", `Bearer ${session.key}`);
      if (session.admin && session.platformId) {
        req.header.set(PLATFORM_HEADER, session.platformId);
      }
    }
    return await next(req);
  };
}

function transport(override?: Session) {
  return createGrpcWebTransport({
    baseUrl: location.origin,
    interceptors: [authInterceptor(override)],
  });
}

export type Scheduler = Client<typeof SchedulerService>;
export type Admin = Client<typeof AdminService>;

/** Calls as the signed-in session (read at each call). */
export const scheduler: Scheduler = createClient(SchedulerService, transport());
export const admin: Admin = createClient(AdminService, transport());

/** Clients for a key being tried at sign-in, before it is stored. */
export function clientsFor(session: Session): { scheduler: Scheduler; admin: Admin } {
  const t = transport(session);
  return { scheduler: createClient(SchedulerService, t), admin: createClient(AdminService, t) };
}
