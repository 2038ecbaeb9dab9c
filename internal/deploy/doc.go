// Package deploy has no code to import: its tests check the AWS SAM
// deployment of the rotator, so that the template, the SAM CLI
// configuration, the Makefile's build target and the deployment
// documentation cannot drift from the code or from each other.
//
//   - template.yaml, parsed with the CloudFormation parser of
//     github.com/aws-cloudformation/rain (short-form tags included): the
//     function's runtime, handler, architecture, build method, timeout
//     against the Clickwrap client's retry budget; the least-privilege role
//     under every combination of the optional parameters; the invoke
//     permission; the placeholder secret and when the rotation schedule
//     exists; the alarm; and that every Ref, GetAtt, Sub variable, condition
//     and parameter is declared and used.
//   - template.yaml against the schemas AWS publishes, in every combination
//     of the conditions and for every AllowedValues value, after conditions,
//     Fn::If and AWS::NoValue are resolved and the remaining intrinsics
//     replaced by the values CloudFormation would give them: each resource's
//     Properties against the CloudFormation registry schema of its type (the
//     files shipped in the rain module), what the SAM function passes
//     through to AWS::Lambda::Function against that type's schema, and the
//     function itself against the SAM project's schema (SAMSchemaFile,
//     skipped when absent); the resource attributes; and the secrets'
//     DeletionPolicy (RetainExceptOnCreate) and UpdateReplacePolicy (Retain).
//   - `make build-RotatorFunction ARTIFACTS_DIR=<dir>` (what `sam build`
//     runs): a static linux/arm64 ELF named bootstrap, stripped, built with
//     the Lambda flags, under a size budget, zipped under 6 MB.
//   - samconfig.toml: it parses, with the stack name and capabilities set and
//     the region left to the user's profile, and every file it names exists.
//   - the deployment document (DeployDoc)'s parameter table lists exactly
//     the template's parameters, with their defaults, and its output table
//     the template's outputs; the README's consumer policy and commands are
//     checked as the credentials document's are (below).
//   - the credentials secret (the split form), in every combination of the
//     parameters: created exactly when asked for, read by the role and never
//     written (what IAM would allow is evaluated, not only the statements'
//     shape), named by the token secret's placeholder and an output, and by
//     nothing a consumer needs; and its document (CredentialsDoc): its
//     parameter and output tables, its JSON examples read by the rotator's
//     own parsers, its consumer policy, and commands that keep secrets off
//     the command line.
//
// Run them with `go test ./internal/deploy/`; -short skips the build.
package deploy

// Files the tests read, relative to the module root.
const (
	TemplateFile  = "template.yaml"
	SamconfigFile = "samconfig.toml"
	MakefileFile  = "Makefile"
	// DeployDoc is the Markdown file whose "| Parameter | Default | Meaning |"
	// table must list the template's parameters one for one, and whose
	// "| Output | What |" table the stack's outputs: the deployment page the
	// README links.
	DeployDoc = "docs/deploying.md"
	// CredentialsDoc is the user-facing text on the credentials secret (the
	// split form): its parameter and output tables list the template's
	// credentials parameters and output, as DeployDoc's tables must too.
	CredentialsDoc = "docs/credentials-secret.md"
	// ReadmeDoc is the README: its Quickstart comes first, and its consumer
	// policy and commands are read as CredentialsDoc's are.
	ReadmeDoc = "README.md"
	// QuickstartLines is how far into ReadmeDoc the whole Quickstart must
	// end, so that a newcomer finds it without scrolling past internals.
	QuickstartLines = 60
)
