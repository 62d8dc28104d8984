package api

import "github.com/phiwatch/phiwatch/internal/audit"

// Auditor records entries of phiwatch's own audit trail (package
// internal/audit, table audit_log). Login, token and grant changes call
// Record with an AuditEntry; Config.Auditor defaults to the store-backed
// one.
type Auditor = audit.Auditor

// AuditEntry is one row of the audit trail.
type AuditEntry = audit.Entry
