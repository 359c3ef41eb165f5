// Resource properties as the engine passes them (a resource's inputs, its state, a stack's
// outputs): JSON of any shape, which berth reads by field name where it knows the provider's
// schema. This alias is the one place outside the tests that allows `any`, so that each read of a
// provider property is not a cast of its own.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Properties = Record<string, any>;
