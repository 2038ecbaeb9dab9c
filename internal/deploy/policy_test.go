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

// TestRolePolicy checks the role in every combination of the optional
// parameters, as CloudFormation would create it.
func TestRolePolicy(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)

	t.Run("shape", func(t *testing.T) {
		t.Parallel()
		role := tp.resource(t, roleID, "AWS::IAM::Role")
		props := asMap(role["Properties"])
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
			secretRef := ref(secretID)
			if !d.conds["CreateSecret"] {
				secretRef = ref("ExistingSecretArn")
			}
			wantSecretResources := []any{map[string]any{"Fn::Sub": prefixARN}, secretRef}

			var granted []string
			var kmsSeen, vpcSeen bool
			for _, l := range d.statements() {
				st := l.st
				for _, forbidden := range []string{"NotAction", "NotResource", "NotPrincipal"} {
					if st[forbidden] != nil {
						t.Errorf("%s uses %s", l.where, forbidden)
					}
				}
				if st["Effect"] != "Allow" {
					continue
				}
				actions := l.actions()
				resources := asList(st["Resource"])
				for _, a := range actions {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %q", l.where, a)
					}
				}
				switch service(actions) {
				case "secretsmanager":
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
					kmsSeen = true
					if !sameSet(actions, kmsActions) {
						t.Errorf("%s: kms actions %v, want %v", l.where, actions, kmsActions)
					}
					if !equal(resources, []any{ref("KmsKeyArn")}) {
						t.Errorf("%s: kms actions on %#v, want the KmsKeyArn parameter only", l.where, resources)
					}
					var contexts []any
					for _, op := range []string{"StringEquals", "StringLike"} {
						contexts = append(contexts, asList(get(st, "Condition", op, "kms:EncryptionContext:SecretARN"))...)
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
		})
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
