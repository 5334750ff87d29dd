// Kubernetes Status errors, as the real API server returns them.
import type { ResourceType } from "./resources.ts";

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

export interface KubeStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): KubeStatus {
    const status: KubeStatus = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details !== undefined) status.details = this.details;
    return status;
  }
}

function qualified(type: ResourceType): string {
  return type.group === "" ? type.resource : `${type.resource}.${type.group}`;
}

function detailsOf(type: ResourceType, name: string): StatusDetails {
  const details: StatusDetails = { name, kind: type.resource };
  if (type.group !== "") details.group = type.group;
  return details;
}

export function notFound(type: ResourceType, name: string): ApiError {
  return new ApiError(404, "NotFound", `${qualified(type)} "${name}" not found`, detailsOf(type, name));
}

export function alreadyExists(type: ResourceType, name: string): ApiError {
  return new ApiError(409, "AlreadyExists", `${qualified(type)} "${name}" already exists`, detailsOf(type, name));
}

export function conflict(type: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    detailsOf(type, name),
  );
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

export function invalid(type: ResourceType, name: string, causes: StatusCause[]): ApiError {
  const summary = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(", ");
  const details: StatusDetails = { name, kind: type.kind, causes };
  if (type.group !== "") details.group = type.group;
  return new ApiError(422, "Invalid", `${type.kind} "${name}" is invalid: ${summary}`, details);
}

export function unprocessable(message: string): ApiError {
  return new ApiError(422, "Invalid", message);
}

export function unauthorized(): ApiError {
  return new ApiError(401, "Unauthorized", "Unauthorized");
}

export function methodNotAllowed(): ApiError {
  return new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(415, "UnsupportedMediaType", `the body of the request was in an unknown format: ${contentType}`);
}

export function expired(requested: number, oldest: number): ApiError {
  return new ApiError(410, "Expired", `too old resource version: ${requested} (${oldest})`);
}

export function pathNotFound(path: string): ApiError {
  return new ApiError(404, "NotFound", `the server could not find the requested resource (${path})`);
}
