// berth's policy pack: `pulumi preview --policy-pack policy` (see docs/safety.md).
import { PolicyPack, StackValidationPolicy } from "@pulumi/policy";
import { PolicyInput, RULES, stackOf } from "./rules";

const policies: StackValidationPolicy[] = RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const resources: PolicyInput[] = args.resources.map((r) => ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      props: r.props,
      protect: r.opts.protect,
    }));
    const stack = resources.length ? stackOf(resources[0].urn) : "";
    for (const v of rule.check(resources, stack)) reportViolation(v.message, v.urn);
  },
}));

new PolicyPack("berth", { policies });
