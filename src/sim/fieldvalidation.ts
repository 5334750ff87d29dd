// Strict field validation (`fieldValidation=Strict`, what kubectl sends): unknown fields are rejected
// with 400 BadRequest, judged against the OpenAPI schemas the sim publishes.
import { badRequest } from "./errors.ts";
import { openApiDocument, schemaName } from "./openapi.ts";
import type { ResourceType } from "./resources.ts";
import { isMap, type JsonMap, type KubeObject } from "./types.ts";

type Schemas = Record<string, JsonMap>;

function schemasOf(type: ResourceType): Schemas {
  const document = openApiDocument(type.group, type.version);
  const components = isMap(document) && isMap(document.components) ? document.components : {};
  return (isMap(components.schemas) ? components.schemas : {}) as Schemas;
}

function resolve(schema: JsonMap, schemas: Schemas): JsonMap {
  const allOf = schema.allOf;
  if (Array.isArray(allOf) && isMap(allOf[0]) && typeof allOf[0].$ref === "string") {
    return schemas[allOf[0].$ref.replace("#/components/schemas/", "")] ?? {};
  }
  return schema;
}

function unknownFields(value: unknown, schema: JsonMap, schemas: Schemas, path: string, found: string[]): void {
  const resolved = resolve(schema, schemas);
  if (resolved["x-kubernetes-preserve-unknown-fields"] === true) return;
  if (Array.isArray(value) && isMap(resolved.items)) {
    const items = resolved.items;
    value.forEach((item, i) => {
      unknownFields(item, items, schemas, `${path}[${i}]`, found);
    });
    return;
  }
  if (!isMap(value)) return;
  if (isMap(resolved.additionalProperties)) {
    const inner = resolved.additionalProperties;
    for (const [key, item] of Object.entries(value)) unknownFields(item, inner, schemas, `${path}.${key}`, found);
    return;
  }
  if (!isMap(resolved.properties)) return;
  const properties = resolved.properties;
  for (const [key, item] of Object.entries(value)) {
    const field = path === "" ? key : `${path}.${key}`;
    const inner = properties[key];
    if (!isMap(inner)) found.push(field);
    else unknownFields(item, inner, schemas, field, found);
  }
}

export function checkStrictFields(type: ResourceType, object: KubeObject): void {
  const schemas = schemasOf(type);
  const schema = schemas[schemaName(type)];
  if (schema === undefined) return;
  const found: string[] = [];
  unknownFields(object, schema, schemas, "", found);
  if (found.length === 0) return;
  const list = found.map((f) => `unknown field "${f}"`).join(", ");
  throw badRequest(
    `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${list}`,
  );
}
