package deploy

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// The documented minimal rotation permissions: exactly these on the
// rotated secrets, never on "*".
var rotationActions = []string{
	"secretsmanager:DescribeSecret",
	"secretsmanager:GetSecretValue",
	"secretsmanager:PutSecretValue",
	"secretsmanager:UpdateSecretVersionStage",
}

// prefixARN is the one wildcard the role may hold: the secrets named under
// SecretNamePrefix, in this account and region.
const prefixARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretNamePrefix}*"

// Actions that have no resource-level permissions, so "*" is the only
// possible Resource: X-Ray for active tracing, and what Lambda needs to put
// the function in a VPC (the ec2 actions of AWSLambdaVPCAccessExecutionRole,
// without its logs actions).
var (
	tracingActions = []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
	vpcActions     = []string{
		"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
		"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
	}
	kmsActions = []string{"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"}
)

// The credentials secret: the role reads it, and may never write it, even
// when it is named under SecretNamePrefix (whose grant would cover it).
var (
	credentialsReadActions = []string{"secretsmanager:GetSecretValue"}
	credentialsDenyActions = []string{
		"secretsmanager:DescribeSecret",
		"secretsmanager:PutSecretValue",
		"secretsmanager:UpdateSecretVersionStage",
	}
	credentialsKMSActions = []string{"kms:Decrypt"}
)

// TestRolePolicy checks the role in every combination of the optional
// parameters, as CloudFormation would create it: each statement's shape,
// then what IAM would allow on the token secret and on the credentials
// secret.
func TestRolePolicy(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)

	t.Run("shape", func(t *testing.T) {
		t.Parallel()
		props := tp.properties(t, roleID, "AWS::IAM::Role")
		if props["ManagedPolicyArns"] != nil {
			t.Errorf("ManagedPolicyArns = %v: managed policies (AWSLambdaBasicExecutionRole, ...) are wider than the function needs", props["ManagedPolicyArns"])
		}
		if props["RoleName"] != nil {
			t.Error("RoleName is set: a named role needs CAPABILITY_NAMED_IAM")
		}
		trust := asList(get(props, "AssumeRolePolicyDocument", "Statement"))
		if len(trust) != 1 || get(trust[0], "Principal", "Service") != "lambda.amazonaws.com" || get(trust[0], "Action") != "sts:AssumeRole" {
			t.Errorf("AssumeRolePolicyDocument = %#v, want lambda.amazonaws.com only", props["AssumeRolePolicyDocument"])
		}
		if others := slices.Concat(tp.resourcesOfType("AWS::IAM::Policy"), tp.resourcesOfType("AWS::IAM::ManagedPolicy"),
			tp.resourcesOfType("AWS::IAM::Role")); !equal(others, []string{roleID}) {
			t.Errorf("IAM resources = %v, want only %s", others, roleID)
		}
	})

	for _, s := range allScenarios() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			d := tp.deploy(t, s)
			wantSecretResources := []any{map[string]any{"Fn::Sub": prefixARN}, s.tokenRef()}
			credsRef := s.credentialsRef() // nil in the inline form

			var granted []string
			var kmsSeen, vpcSeen, credsReadSeen, credsDenySeen, credsKMSSeen bool
			for _, l := range d.statements() {
				st := l.st
				for _, forbidden := range []string{"NotAction", "NotResource", "NotPrincipal"} {
					if st[forbidden] != nil {
						t.Errorf("%s uses %s", l.where, forbidden)
					}
				}
				actions := l.actions()
				resources := asList(st["Resource"])
				for _, a := range actions {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %q", l.where, a)
					}
				}
				if st["Effect"] == "Deny" {
					// The one Deny: no write to the credentials secret.
					credsDenySeen = true
					if credsRef == nil || !equal(resources, []any{credsRef}) || !sameSet(actions, credentialsDenyActions) || st["Condition"] != nil {
						t.Errorf("%s: Deny %v on %#v (condition %v), want only %v on the credentials secret %#v, unconditionally",
							l.where, actions, resources, st["Condition"], credentialsDenyActions, credsRef)
					}
					continue
				}
				if st["Effect"] != "Allow" {
					t.Errorf("%s: Effect %v", l.where, st["Effect"])
					continue
				}
				switch service(actions) {
				case "secretsmanager":
					if credsRef != nil && equal(resources, []any{credsRef}) {
						credsReadSeen = true
						if !sameSet(actions, credentialsReadActions) {
							t.Errorf("%s: %v on the credentials secret, want only %v", l.where, actions, credentialsReadActions)
						}
						continue
					}
					granted = append(granted, actions...)
					if !equal(resources, wantSecretResources) {
						t.Errorf("%s: secretsmanager actions on %#v, want exactly %#v", l.where, resources, wantSecretResources)
					}
					for _, r := range resources {
						if r == "*" {
							t.Errorf("%s: secretsmanager actions on Resource \"*\"", l.where)
						}
					}
				case "kms":
					if !equal(resources, []any{ref("KmsKeyArn")}) {
						t.Errorf("%s: kms actions on %#v, want the KmsKeyArn parameter only", l.where, resources)
					}
					var contexts []any
					for _, op := range []string{"StringEquals", "StringLike"} {
						contexts = append(contexts, asList(get(st, "Condition", op, "kms:EncryptionContext:SecretARN"))...)
					}
					if credsRef != nil && equal(contexts, []any{credsRef}) {
						credsKMSSeen = true
						if !sameSet(actions, credentialsKMSActions) {
							t.Errorf("%s: kms actions %v for the credentials secret, want only %v", l.where, actions, credentialsKMSActions)
						}
						continue
					}
					kmsSeen = true
					if !sameSet(actions, kmsActions) {
						t.Errorf("%s: kms actions %v, want %v", l.where, actions, kmsActions)
					}
					if !equal(contexts, wantSecretResources) {
						t.Errorf("%s: kms:EncryptionContext:SecretARN condition = %#v, want %#v", l.where, contexts, wantSecretResources)
					}
				case "ec2":
					vpcSeen = true
					if !sameSet(actions, vpcActions) {
						t.Errorf("%s: ec2 actions %v, want the network-interface set %v", l.where, actions, vpcActions)
					}
				case "xray":
					if !sameSet(actions, tracingActions) {
						t.Errorf("%s: xray actions %v, want %v", l.where, actions, tracingActions)
					}
				case "logs":
					if !equal(resources, []any{getAtt("RotatorLogGroup", "Arn")}) {
						t.Errorf("%s: logs actions on %#v, want the function's own log group", l.where, resources)
					}
					if !sameSet(actions, []string{"logs:CreateLogStream", "logs:PutLogEvents"}) {
						t.Errorf("%s: logs actions %v", l.where, actions)
					}
				default:
					t.Errorf("%s: unexpected actions %v (one service per statement, from the documented set)", l.where, actions)
				}
				// Resource "*" only where no resource-level permission exists.
				if slices.Contains(resources, any("*")) {
					for _, a := range actions {
						if !slices.Contains(tracingActions, a) && !slices.Contains(vpcActions, a) {
							t.Errorf("%s: %s on Resource \"*\"", l.where, a)
						}
					}
				}
			}
			if !sameSet(granted, rotationActions) {
				t.Errorf("secretsmanager actions granted = %v, want exactly %v", granted, rotationActions)
			}
			if wantKMS := s.overrides["KmsKeyArn"] != ""; kmsSeen != wantKMS {
				t.Errorf("KMS statement present = %v, want %v (only when a key is given)", kmsSeen, wantKMS)
			}
			if wantVPC := s.overrides["SubnetIds"] != ""; vpcSeen != wantVPC {
				t.Errorf("network-interface statement present = %v, want %v (only with VPC settings)", vpcSeen, wantVPC)
			}
			vpc := get(d.Resources[functionID], "Properties", "VpcConfig")
			if (vpc != nil) != vpcSeen {
				t.Errorf("function VpcConfig = %#v while the role's VPC statement present = %v", vpc, vpcSeen)
			}
			hasCreds, hasKey := s.hasCredentials(), s.overrides["KmsKeyArn"] != ""
			if credsReadSeen != hasCreds || credsDenySeen != hasCreds {
				t.Errorf("credentials secret: read statement present = %v, deny statement present = %v; want both %v (exactly when there is one)",
					credsReadSeen, credsDenySeen, hasCreds)
			}
			if want := hasCreds && hasKey; credsKMSSeen != want {
				t.Errorf("credentials secret: kms:Decrypt statement present = %v, want %v (with a credentials secret and a key)", credsKMSSeen, want)
			}
			checkEffectivePermissions(t, d)
		})
	}

	// Named under SecretNamePrefix (the description advises against it),
	// the credentials secret is matched by the prefix's grant: the Deny
	// must still leave the role only GetSecretValue on it.
	for _, s := range []scenario{
		{"created under the prefix", map[string]string{"CredentialsSecretName": "clickwrap/api-applications"}},
		{"existing under the prefix", map[string]string{"ExistingCredentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clickwrap/api-applications-GhIjKl"}},
		{"created under the prefix, existing token secret, kms", map[string]string{"CredentialsSecretName": "clickwrap/api-applications",
			"ExistingSecretArn": testExistingSecretArn, "KmsKeyArn": testKmsKeyArn}},
		{"existing under the prefix wins over a name", map[string]string{"CredentialsSecretName": testCredentialsSecretName,
			"ExistingCredentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clickwrap/api-applications-GhIjKl"}},
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			d := tp.deploy(t, s)
			credsARN, err := d.concrete(s.credentialsRef())
			if err != nil {
				t.Fatal(err)
			}
			if !underPrefix(t, d, credsARN) {
				t.Fatalf("%s is not under the prefix: this case tests nothing", credsARN)
			}
			checkEffectivePermissions(t, d)
		})
	}
}

// underPrefix reports whether a secret's ARN falls under the role's
// SecretNamePrefix pattern.
func underPrefix(t *testing.T, d *deployed, arn string) bool {
	t.Helper()
	pattern, err := d.concrete(map[string]any{"Fn::Sub": prefixARN})
	if err != nil {
		t.Fatal(err)
	}
	return globMatch(pattern, arn, false)
}

// checkEffectivePermissions asks what IAM would allow the role: every
// rotation action on the token secret, and on the credentials secret
// GetSecretValue alone; with a key, KMS for the token secret's encryption
// context, and for the credentials secret's only kms:Decrypt.
func checkEffectivePermissions(t *testing.T, d *deployed) {
	t.Helper()
	s := d.scenario
	tokenARN, err := d.concrete(s.tokenRef())
	if err != nil {
		t.Fatal(err)
	}
	keyARN := s.overrides["KmsKeyArn"]
	check := func(req request, want bool, what string) {
		t.Helper()
		got, err := d.allows(req)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %s on %s (encryption context %q) allowed = %v, want %v", what, req.action, req.resource, req.secretARNContext, got, want)
		}
	}
	// Every Secrets Manager action the policy names anywhere, and the
	// rotation's own.
	smActions := slices.Clone(rotationActions)
	for _, l := range d.statements() {
		for _, a := range l.actions() {
			if service([]string{a}) == "secretsmanager" && !slices.Contains(smActions, a) {
				smActions = append(smActions, a)
			}
		}
	}
	for _, a := range rotationActions {
		check(request{action: a, resource: tokenARN}, true, "token secret")
	}
	kmsProbe := []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
	if keyARN != "" {
		for _, a := range []string{"kms:Decrypt", "kms:GenerateDataKey"} {
			check(request{action: a, resource: keyARN, secretARNContext: tokenARN}, true, "token secret's key")
		}
	}
	if !s.hasCredentials() {
		return
	}
	credsARN, err := d.concrete(s.credentialsRef())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range smActions {
		check(request{action: a, resource: credsARN}, slices.Contains(credentialsReadActions, a), "credentials secret")
	}
	if keyARN == "" || underPrefix(t, d, credsARN) {
		// Under the prefix, the prefix's KMS grant matches its encryption
		// context too; without PutSecretValue that writes nothing.
		return
	}
	for _, a := range kmsProbe {
		check(request{action: a, resource: keyARN, secretARNContext: credsARN}, slices.Contains(credentialsKMSActions, a), "credentials secret's key")
	}
}

// service returns the one service prefix of a statement's actions, or "" if
// they mix services.
func service(actions []string) string {
	var svc string
	for _, a := range actions {
		p, _, _ := strings.Cut(a, ":")
		if svc != "" && p != svc {
			return ""
		}
		svc = p
	}
	return svc
}

func sameSet(a, b []string) bool {
	set := func(xs []string) map[string]int {
		m := map[string]int{}
		for _, x := range xs {
			m[x]++
		}
		return m
	}
	return maps.Equal(set(a), set(b))
}
