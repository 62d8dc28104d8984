package event

import (
	"fmt"
	"sort"
)

// Action is what the actor did, from a closed vocabulary so detectors can
// reason across sources.
type Action string

// The action vocabulary. Parsers map every source-specific operation onto
// one of these and keep the original in Attrs["source_action"].
const (
	ActionView          Action = "view"
	ActionSearch        Action = "search"
	ActionCreate        Action = "create"
	ActionUpdate        Action = "update"
	ActionDelete        Action = "delete"
	ActionPrint         Action = "print"
	ActionExport        Action = "export"
	ActionImport        Action = "import"
	ActionQuery         Action = "query"
	ActionLogin         Action = "login"
	ActionLoginFailed   Action = "login_failed"
	ActionLogout        Action = "logout"
	ActionSend          Action = "send"
	ActionReceive       Action = "receive"
	ActionForward       Action = "forward"
	ActionMailboxAccess Action = "mailbox_access"
	ActionRuleChange    Action = "rule_change"
	ActionPermission    Action = "permission_change"
	ActionAdmin         Action = "admin"
	ActionVPNConnect    Action = "vpn_connect"
	ActionVPNDisconnect Action = "vpn_disconnect"
	ActionOther         Action = "other"
)

var actions = map[Action]string{
	ActionView:          "read a record (chart, document, image)",
	ActionSearch:        "searched for patients or records",
	ActionCreate:        "created a record",
	ActionUpdate:        "changed a record",
	ActionDelete:        "deleted a record",
	ActionPrint:         "printed",
	ActionExport:        "exported or downloaded data",
	ActionImport:        "imported data",
	ActionQuery:         "ran a query (system-level)",
	ActionLogin:         "signed in",
	ActionLoginFailed:   "failed to sign in",
	ActionLogout:        "signed out",
	ActionSend:          "sent a message",
	ActionReceive:       "received a message",
	ActionForward:       "forwarded a message or set forwarding",
	ActionMailboxAccess: "opened a mailbox or message",
	ActionRuleChange:    "changed a mailbox rule",
	ActionPermission:    "changed permissions or roles",
	ActionAdmin:         "administrative change",
	ActionVPNConnect:    "VPN session started",
	ActionVPNDisconnect: "VPN session ended",
	ActionOther:         "anything else (see attrs.source_action)",
}

// Valid reports whether a is in the vocabulary.
func (a Action) Valid() bool {
	_, ok := actions[a]
	return ok
}

// Describe is a short human description of the action.
func (a Action) Describe() string { return actions[a] }

// Actions lists the vocabulary, sorted.
func Actions() []Action {
	out := make([]Action, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ParseAction checks s against the vocabulary.
func ParseAction(s string) (Action, error) {
	a := Action(s)
	if !a.Valid() {
		return "", fmt.Errorf("action %q is not in the vocabulary %v", s, Actions())
	}
	return a, nil
}
