// URNs as the engine forms them: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`, where
// the qualified type is the parent's qualified type, `$`, and the resource's type; the root stack
// as parent adds nothing. The same rule gives the URN an alias stands for (pulumi/pulumi
// pkg/resource/deploy/step_generator.go collapseAliasToUrn; sdk/nodejs/resource.ts createUrn).
import type { Alias } from "@pulumi/pulumi/proto/alias_pb";

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/** The qualified type of a URN: its types from the outermost parent down, joined by `$`. */
export function qualifiedType(urn: string): string {
  return urn.split("::")[2] ?? "";
}

export function urnOf(stack: string, project: string, parentUrn: string, type: string, name: string): string {
  const parentType = parentUrn ? qualifiedType(parentUrn) : "";
  const qualified = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/**
 * The URNs a resource's aliases stand for, as the engine resolves them: a spec's missing name,
 * type, stack or project is the resource's own, its missing parent the resource's parent.
 */
export function aliasUrns(
  aliases: Alias[],
  own: { stack: string; project: string; parent: string; type: string; name: string },
): string[] {
  return aliases.map((alias) => {
    const spec = alias.getSpec();
    if (!spec) return alias.getUrn();
    const parent = spec.getNoparent() ? "" : spec.getParenturn() || own.parent;
    return urnOf(
      spec.getStack() || own.stack,
      spec.getProject() || own.project,
      parent,
      spec.getType() || own.type,
      spec.getName() || own.name,
    );
  });
}
