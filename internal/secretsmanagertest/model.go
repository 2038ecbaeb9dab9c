package secretsmanagertest

// This file holds the secret and version model and the operations on it.
// Functions ending in Locked expect s.mu to be held.

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Staging labels with a meaning to the service.
const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// secretValue is the value of a version: exactly one of str and bin is set.
type secretValue struct {
	str *string
	bin []byte
}

func (v *secretValue) equal(o *secretValue) bool {
	if (v.str == nil) != (o.str == nil) {
		return false
	}
	if v.str != nil {
		return *v.str == *o.str
	}
	return bytes.Equal(v.bin, o.bin)
}

// clone returns a deep copy of v (nil for nil): the copy shares no memory
// with v, so neither can change the other.
func (v *secretValue) clone() *secretValue {
	if v == nil {
		return nil
	}
	c := &secretValue{bin: bytes.Clone(v.bin)}
	if v.str != nil {
		str := strings.Clone(*v.str)
		c.str = &str
	}
	return c
}

// version is one version of a secret.
type version struct {
	id      string
	value   *secretValue // nil: no value yet (a rotation's pending version)
	stages  []string
	created time.Time
	// rotationToken is the token issued by RotateSecret for a pending version
	// it created; PutSecretValue must present it to store the value.
	rotationToken string
	// staleReads is how many more GetSecretValue calls that name this
	// version answer as if it had no value (SetReadLagAfterPut).
	staleReads int
}

func (v *version) hasStage(stage string) bool { return slices.Contains(v.stages, stage) }

func (v *version) addStage(stage string) {
	if !v.hasStage(stage) {
		v.stages = append(v.stages, stage)
	}
}

func (v *version) removeStage(stage string) {
	v.stages = slices.DeleteFunc(v.stages, func(s string) bool { return s == stage })
}

// stagesCopy returns the labels as a non-nil slice the caller may keep.
func (v *version) stagesCopy() []string {
	return append([]string{}, v.stages...)
}

// rotationRules is the stored rotation schedule.
type rotationRules struct {
	afterDays *int64
	duration  *string
	schedule  *string
}

// secret is one secret with its versions.
type secret struct {
	arn, name   string
	description *string
	kmsKeyID    *string
	tags        []tagJSON // in the order CreateSecret gave them
	versions    map[string]*version
	order       []string // version ids in creation order

	rotationEnabled bool
	lambdaARN       string
	rules           *rotationRules

	created, lastChanged      time.Time
	lastRotated, nextRotation time.Time // zero: unset
}

// versionWithStage returns the version carrying stage, or nil.
func (sec *secret) versionWithStage(stage string) *version {
	for _, id := range sec.order {
		if v := sec.versions[id]; v.hasStage(stage) {
			return v
		}
	}
	return nil
}

// pendingVersion returns the version of an unfinished rotation: the one with
// AWSPENDING unless that version also has AWSCURRENT.
func (sec *secret) pendingVersion() *version {
	v := sec.versionWithStage(stagePending)
	if v == nil || v.hasStage(stageCurrent) {
		return nil
	}
	return v
}

func (sec *secret) addVersion(v *version) {
	sec.versions[v.id] = v
	sec.order = append(sec.order, v.id)
}

func (sec *secret) deleteVersion(id string) {
	delete(sec.versions, id)
	sec.order = slices.DeleteFunc(sec.order, func(s string) bool { return s == id })
}

// attachStage puts stage on v, taking it from whichever version holds it.
// Moving AWSCURRENT gives the previous holder AWSPREVIOUS (taken from
// wherever it was).
func (sec *secret) attachStage(stage string, v *version) {
	holder := sec.versionWithStage(stage)
	if holder == v {
		return
	}
	if holder != nil {
		holder.removeStage(stage)
		if stage == stageCurrent {
			if prev := sec.versionWithStage(stagePrevious); prev != nil {
				prev.removeStage(stagePrevious)
			}
			holder.addStage(stagePrevious)
		}
	}
	v.addStage(stage)
}

// versionIDsToStages is DescribeSecret's map: versions without labels are
// left out.
func (sec *secret) versionIDsToStages() map[string][]string {
	m := map[string][]string{}
	for _, id := range sec.order {
		if v := sec.versions[id]; len(v.stages) > 0 {
			m[id] = v.stagesCopy()
		}
	}
	return m
}

var errSecretNotFound = newError(codeResourceNotFound, "Secrets Manager can't find the specified secret.")

func errVersionNotFound(versionID string) *apiError {
	return newError(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: "+versionID)
}

func errStageNotFound(stage string) *apiError {
	return newError(codeResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: "+stage)
}

// lookupLocked finds a secret by name, full ARN or partial ARN (the ARN
// without the 6-character suffix).
func (s *Server) lookupLocked(id string) (*secret, *apiError) {
	if id == "" {
		return nil, newError(codeInvalidParameter, "You must specify SecretId.")
	}
	if sec := s.secrets[id]; sec != nil {
		return sec, nil
	}
	if strings.HasPrefix(id, "arn:") {
		for _, sec := range s.secrets {
			if sec.arn == id || sec.arn[:len(sec.arn)-7] == id {
				return sec, nil
			}
		}
	}
	return nil, errSecretNotFound
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// arnSuffix returns the 6 random alphanumerics the service appends to ARNs.
func arnSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// newValue validates that at most one of str and bin is set and returns the
// value, nil when neither is.
func newValue(str *string, bin []byte) (*secretValue, *apiError) {
	if str != nil && bin != nil {
		return nil, newError(codeInvalidParameter, "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if str == nil && bin == nil {
		return nil, nil
	}
	return &secretValue{str: str, bin: bin}, nil
}

// createSecretLocked creates a secret; with a value, its first version
// (VersionId token) gets AWSCURRENT.
func (s *Server) createSecretLocked(name string, val *secretValue, token string, description, kmsKeyID *string, tags []tagJSON) (*secret, *version, *apiError) {
	if name == "" {
		return nil, nil, newError(codeInvalidParameter, "You must specify Name.")
	}
	for _, t := range tags {
		if deref(t.Key) == "" {
			return nil, nil, newError(codeInvalidParameter, "You must specify a Key for each tag.")
		}
	}
	if strings.HasPrefix(name, "arn:") {
		return nil, nil, newError(codeInvalidParameter, "The secret name can't start with arn:.")
	}
	if s.secrets[name] != nil {
		return nil, nil, newError(codeResourceExists, fmt.Sprintf("The operation failed because the secret %s already exists.", name))
	}
	now := s.opts.Now()
	sec := &secret{
		arn:         fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.opts.Region, s.opts.AccountID, name, arnSuffix()),
		name:        name,
		description: description,
		kmsKeyID:    kmsKeyID,
		tags:        cloneTags(tags),
		versions:    map[string]*version{},
		created:     now,
		lastChanged: now,
	}
	var v *version
	if val != nil {
		if token == "" {
			token = newUUID()
		}
		v = &version{id: token, value: val, created: now}
		sec.addVersion(v)
		sec.attachStage(stageCurrent, v)
	}
	s.secrets[name] = sec
	return sec, v, nil
}

func (s *Server) createSecret(in *createSecretInput) (*createSecretOutput, error) {
	val, err := newValue(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, v, err := s.createSecretLocked(deref(in.Name), val, deref(in.ClientRequestToken), in.Description, in.KmsKeyId, in.Tags)
	if err != nil {
		return nil, err
	}
	out := &createSecretOutput{ARN: sec.arn, Name: sec.name}
	if v != nil {
		out.VersionId = v.id
	}
	return out, nil
}

// cloneTags returns a deep copy of tags, nil when there are none.
func cloneTags(tags []tagJSON) []tagJSON {
	var out []tagJSON
	for _, t := range tags {
		key := deref(t.Key)
		c := tagJSON{Key: &key}
		if t.Value != nil {
			value := *t.Value
			c.Value = &value
		}
		out = append(out, c)
	}
	return out
}

func (s *Server) describeSecret(in *secretIDInput) (*describeSecretOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(deref(in.SecretId))
	if err != nil {
		return nil, err
	}
	out := &describeSecretOutput{
		ARN:                sec.arn,
		Name:               sec.name,
		Description:        sec.description,
		KmsKeyId:           sec.kmsKeyID,
		RotationEnabled:    sec.rotationEnabled,
		RotationLambdaARN:  sec.lambdaARN,
		CreatedDate:        optTime(sec.created),
		LastChangedDate:    optTime(sec.lastChanged),
		LastRotatedDate:    optTime(sec.lastRotated),
		NextRotationDate:   optTime(sec.nextRotation),
		Tags:               cloneTags(sec.tags),
		VersionIdsToStages: sec.versionIDsToStages(),
	}
	if r := sec.rules; r != nil {
		out.RotationRules = &rotationRulesJSON{AutomaticallyAfterDays: r.afterDays, Duration: r.duration, ScheduleExpression: r.schedule}
	}
	return out, nil
}

func (s *Server) getSecretValue(in *getSecretValueInput) (*getSecretValueOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(deref(in.SecretId))
	if err != nil {
		return nil, err
	}
	versionID, stage := deref(in.VersionId), deref(in.VersionStage)
	var v *version
	if versionID != "" {
		v = sec.versions[versionID]
		if v == nil {
			return nil, errVersionNotFound(versionID)
		}
		if stage != "" && !v.hasStage(stage) {
			return nil, newError(codeResourceNotFound, fmt.Sprintf("Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", versionID, stage))
		}
	} else {
		if stage == "" {
			stage = stageCurrent
		}
		if v = sec.versionWithStage(stage); v == nil {
			return nil, errStageNotFound(stage)
		}
	}
	stale := v.value != nil && v.staleReads > 0
	if stale {
		// A stale read armed by SetReadLagAfterPut: answered as if the
		// version had no value yet.
		v.staleReads--
	}
	if v.value == nil || stale {
		if versionID != "" {
			return nil, errVersionNotFound(versionID)
		}
		return nil, errStageNotFound(stage)
	}
	return &getSecretValueOutput{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionId:     v.id,
		SecretString:  v.value.str,
		SecretBinary:  v.value.bin,
		VersionStages: v.stagesCopy(),
		CreatedDate:   optTime(v.created),
	}, nil
}

func (s *Server) putSecretValue(in *putSecretValueInput) (*putSecretValueOutput, error) {
	val, err := newValue(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	if val == nil {
		return nil, newError(codeInvalidParameter, "You must provide either SecretString or SecretBinary.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(deref(in.SecretId))
	if err != nil {
		return nil, err
	}
	token := deref(in.ClientRequestToken)
	if token == "" {
		token = newUUID()
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	now := s.opts.Now()

	v := sec.versions[token]
	switch {
	case v != nil && v.value != nil:
		// Idempotent retry: same value succeeds without change.
		if !v.value.equal(val) {
			return nil, newError(codeResourceExists, "You can't modify an existing version, you can only create a new version.")
		}
		// A successful Put, though it changes nothing: it arms the read lag.
		v.staleReads = s.readLag
		return &putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: v.id, VersionStages: v.stagesCopy()}, nil
	case v != nil:
		// A rotation's pending version: only the rotation may fill it.
		if !s.opts.AllowMissingRotationToken && deref(in.RotationToken) != v.rotationToken {
			return nil, newError(codeAccessDenied, fmt.Sprintf(
				"Pending secret version %s for Secret %s was not created by Lambda %s. Remove the AWSPENDING staging label and restart rotation.",
				v.id, sec.name, sec.lambdaARN))
		}
		v.value = val
	default:
		v = &version{id: token, value: val, created: now}
		sec.addVersion(v)
	}
	for _, st := range stages {
		sec.attachStage(st, v)
	}
	v.staleReads = s.readLag
	sec.lastChanged = now
	if slices.Contains(stages, stageCurrent) && sec.rotationEnabled {
		// A manual change counts as a rotation for the schedule.
		sec.nextRotation = nextRotation(now, sec.rules)
	}
	return &putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: v.id, VersionStages: v.stagesCopy()}, nil
}

func (s *Server) updateSecretVersionStage(in *updateSecretVersionStageInput) (*arnNameOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(deref(in.SecretId))
	if err != nil {
		return nil, err
	}
	stage := deref(in.VersionStage)
	if stage == "" {
		return nil, newError(codeInvalidParameter, "You must specify VersionStage.")
	}
	var moveTo, removeFrom *version
	if id := deref(in.MoveToVersionId); id != "" {
		if moveTo = sec.versions[id]; moveTo == nil {
			return nil, errVersionNotFound(id)
		}
	}
	if id := deref(in.RemoveFromVersionId); id != "" {
		if removeFrom = sec.versions[id]; removeFrom == nil {
			return nil, errVersionNotFound(id)
		}
	}
	if moveTo == nil && removeFrom == nil {
		return nil, newError(codeInvalidParameter, "You must specify MoveToVersionId, RemoveFromVersionId or both.")
	}
	holder := sec.versionWithStage(stage)
	if removeFrom != nil && removeFrom != holder {
		return nil, newError(codeInvalidParameter, fmt.Sprintf("The staging label %s is not attached to version %s.", stage, removeFrom.id))
	}
	if moveTo == nil {
		if stage == stageCurrent {
			return nil, newError(codeInvalidParameter, "You can't remove the staging label AWSCURRENT from a version without moving it to another version with MoveToVersionId.")
		}
		removeFrom.removeStage(stage)
	} else {
		if holder != nil && holder != moveTo && removeFrom == nil {
			return nil, newError(codeInvalidParameter, fmt.Sprintf(
				"The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.",
				stage, holder.id))
		}
		sec.attachStage(stage, moveTo)
	}
	sec.lastChanged = s.opts.Now()
	return &arnNameOutput{ARN: sec.arn, Name: sec.name}, nil
}

func (s *Server) listSecretVersionIds(in *listSecretVersionIdsInput) (*listSecretVersionIdsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(deref(in.SecretId))
	if err != nil {
		return nil, err
	}
	includeDeprecated := in.IncludeDeprecated != nil && *in.IncludeDeprecated
	out := &listSecretVersionIdsOutput{ARN: sec.arn, Name: sec.name, Versions: []versionsListEntry{}}
	for _, id := range sec.order {
		v := sec.versions[id]
		if len(v.stages) == 0 && !includeDeprecated {
			continue
		}
		out.Versions = append(out.Versions, versionsListEntry{VersionId: v.id, VersionStages: v.stagesCopy(), CreatedDate: optTime(v.created)})
	}
	return out, nil
}
