package records

import (
	"os"
	"testing"

	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("records")

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// tenantDB is a store narrowed to a tenant of the test's own.
func tenantDB(t *testing.T, tenant string) *store.TenantStore {
	t.Helper()
	ts, err := store.ForTenant(shared.Store(t), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
