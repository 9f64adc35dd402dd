import type { JsonObject } from "@bufbuild/protobuf";

/**
 * toPayload converts a value into the JSON object that jobs, events and
 * results carry (a google.protobuf.Struct on the wire). It goes through
 * JSON.stringify, as a request body would: a Date becomes its ISO string, a
 * class instance its enumerable fields (or its toJSON()), undefined members
 * are dropped, and a non-finite number becomes null. undefined and null
 * give an empty object. What JSON cannot hold (a BigInt, a cycle) and what
 * is not an object at the top (an array, a string) throw a TypeError here
 * rather than on the server.
 */
export function toPayload(value: unknown): JsonObject {
  if (value === undefined || value === null) {
    return {};
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`cronstream: payload is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed: unknown = text === undefined ? undefined : JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    const kind = Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed;
    throw new TypeError(`cronstream: payload must be a JSON object, not ${kind}`);
  }
  return parsed as JsonObject;
}

/**
 * fromPayload is a handler's view of a Struct: a plain JSON object (numbers
 * are JavaScript numbers), empty when the message had none.
 */
export function fromPayload(struct: JsonObject | undefined): JsonObject {
  return struct ?? {};
}
