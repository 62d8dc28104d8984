// Package recert serves the quarterly access recertification API
// (internal/recert) under /api/v1/tenants/:tenant/recert.
package recert

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/recert"
)

// Deps is what the routes need.
type Deps struct {
	Log *slog.Logger
	Now func() time.Time
}

type handlers struct{ d Deps }

// Routes lists the recertification endpoints.
func Routes(d Deps) []route.Route {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := handlers{d}
	const c = "/recert/campaigns/:campaign"
	return []route.Route{
		{Method: "GET", Path: "/recert/campaigns", Perm: authz.ReadRecert, Handle: h.list},
		{Method: "POST", Path: "/recert/campaigns", Perm: authz.ManageRecert, Handle: h.create},
		{Method: "GET", Path: c, Perm: authz.ReadRecert, Handle: h.progress},
		{Method: "GET", Path: c + "/items", Perm: authz.ReadRecert, Handle: h.items},
		{Method: "POST", Path: c + "/items/:item/decision", Perm: authz.DecideRecert, Handle: h.decide},
		{Method: "POST", Path: c + "/verify", Perm: authz.ManageRecert, Handle: h.verify},
		{Method: "POST", Path: c + "/signoff", Perm: authz.ManageRecert, Handle: h.signoff},
		{Method: "GET", Path: c + "/export.csv", Perm: authz.ExportEvidence, Handle: h.exportCSV},
		{Method: "GET", Path: c + "/export.pdf", Perm: authz.ExportEvidence, Handle: h.exportPDF},
	}
}

func actor(c *gin.Context) recert.Actor {
	p := route.Principal(c)
	return recert.Actor{ID: p.Subject, Name: p.Name, Role: string(p.Role), WorkforceID: p.WorkforceIDs[route.Tenant(c)]}
}

// fail maps domain errors to problems; anything else is logged and hidden.
func (h handlers) fail(c *gin.Context, what string, err error) {
	switch {
	case errors.Is(err, recert.ErrNotFound):
		route.Problem(c, http.StatusNotFound, "no such "+what)
	case errors.Is(err, recert.ErrInvalid):
		route.Problem(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, recert.ErrExists), errors.Is(err, recert.ErrLocked), errors.Is(err, recert.ErrNotLocked),
		errors.Is(err, recert.ErrIncomplete):
		route.Problem(c, http.StatusConflict, err.Error())
	case errors.Is(err, recert.ErrSelf), errors.Is(err, recert.ErrNotAssigned):
		route.Problem(c, http.StatusForbidden, err.Error())
	default:
		h.d.Log.Error("recertification", "tenant", route.Tenant(c), "what", what, "err", err)
		route.Problem(c, http.StatusInternalServerError, what+" could not be processed; the error is in the server log")
	}
}

func (h handlers) list(c *gin.Context) {
	out, err := recert.List(c.Request.Context(), route.Store(c))
	if err != nil {
		h.fail(c, "campaign list", err)
		return
	}
	if out == nil {
		out = []recert.Campaign{}
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "items": out})
}

type createBody struct {
	Quarter string   `json:"quarter"`
	Systems []string `json:"systems"`
	DueDate string   `json:"due_date"`
}

func (h handlers) create(c *gin.Context) {
	var b createBody
	if err := c.ShouldBindJSON(&b); err != nil {
		route.Problem(c, http.StatusBadRequest, "body must be JSON: {\"quarter\": \"2026-Q4\", \"systems\": [\"ehr\"], \"due_date\": \"2027-01-31\"}")
		return
	}
	q, err := recert.ParseQuarter(b.Quarter)
	if err != nil {
		route.Problem(c, http.StatusBadRequest, err.Error())
		return
	}
	if len(b.Systems) > 50 {
		route.Problem(c, http.StatusBadRequest, "at most 50 systems per campaign")
		return
	}
	var due time.Time
	if b.DueDate != "" {
		if due, err = time.Parse("2006-01-02", b.DueDate); err != nil {
			route.Problem(c, http.StatusBadRequest, "due_date must be a date like 2027-01-31")
			return
		}
	}
	camp, items, err := recert.Create(c.Request.Context(), route.Store(c), recert.CreateRequest{Quarter: q, Systems: b.Systems, DueDate: due, By: actor(c), Now: h.d.Now()})
	if err != nil {
		h.fail(c, "campaign", err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"campaign": camp, "items": len(items)})
}

func (h handlers) progress(c *gin.Context) {
	p, err := recert.GetProgress(c.Request.Context(), route.Store(c), c.Param("campaign"), h.d.Now())
	if err != nil {
		h.fail(c, "campaign", err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (h handlers) items(c *gin.Context) {
	f := recert.ItemFilter{Assignee: c.Query("assignee"), Flag: c.Query("flag"), Undecided: c.Query("undecided") == "true"}
	a := actor(c)
	if f.Assignee == "me" {
		f.Assignee = a.WorkforceID
	}
	// Managers see their own staff's items only.
	if !recert.MayDecideAny(a.Role) && a.Role != string(authz.Auditor) {
		if a.WorkforceID == "" {
			c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "items": []recert.Item{}})
			return
		}
		f.Assignee = a.WorkforceID
	}
	if len(f.Assignee) > 256 || len(f.Flag) > 64 {
		route.Problem(c, http.StatusBadRequest, "assignee and flag are too long")
		return
	}
	if _, err := recert.Get(c.Request.Context(), route.Store(c), c.Param("campaign")); err != nil {
		h.fail(c, "campaign", err)
		return
	}
	out, err := recert.Items(c.Request.Context(), route.Store(c), c.Param("campaign"), f)
	if err != nil {
		h.fail(c, "items", err)
		return
	}
	if out == nil {
		out = []recert.Item{}
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "items": out})
}

func (h handlers) decide(c *gin.Context) {
	var d recert.DecideRequest
	if err := c.ShouldBindJSON(&d); err != nil {
		route.Problem(c, http.StatusBadRequest, "body must be JSON: {\"decision\": \"certify|revoke|modify\", \"reason\": \"…\", \"new_roles\": […], \"amendment\": false}")
		return
	}
	it, err := recert.Decide(c.Request.Context(), route.Store(c), c.Param("campaign"), c.Param("item"), d, actor(c), h.d.Now())
	if err != nil {
		h.fail(c, "item", err)
		return
	}
	c.JSON(http.StatusOK, it)
}

func (h handlers) verify(c *gin.Context) {
	if _, err := recert.Get(c.Request.Context(), route.Store(c), c.Param("campaign")); err != nil {
		h.fail(c, "campaign", err)
		return
	}
	res, err := recert.Verify(c.Request.Context(), route.Store(c), c.Param("campaign"), h.d.Now())
	if err != nil {
		h.fail(c, "verification", err)
		return
	}
	c.JSON(http.StatusOK, res)
}

type signoffBody struct {
	Statement string `json:"statement"`
}

func (h handlers) signoff(c *gin.Context) {
	var b signoffBody
	if c.Request.ContentLength != 0 {
		if err := c.ShouldBindJSON(&b); err != nil || len(b.Statement) > 2000 {
			route.Problem(c, http.StatusBadRequest, "body must be JSON: {\"statement\": \"…\"} (at most 2000 characters), or empty")
			return
		}
	}
	camp, err := recert.SignOff(c.Request.Context(), route.Store(c), c.Param("campaign"), actor(c), b.Statement, h.d.Now())
	if err != nil {
		h.fail(c, "campaign", err)
		return
	}
	c.JSON(http.StatusOK, camp)
}

func (h handlers) exportCSV(c *gin.Context) {
	ctx := c.Request.Context()
	camp, err := recert.Get(ctx, route.Store(c), c.Param("campaign"))
	if err != nil {
		h.fail(c, "campaign", err)
		return
	}
	items, err := recert.Items(ctx, route.Store(c), camp.CampaignID, recert.ItemFilter{})
	if err != nil {
		h.fail(c, "items", err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="recertification-%s-%s.csv"`, route.Tenant(c), camp.CampaignID))
	if err := recert.WriteCSV(c.Writer, camp, items); err != nil {
		h.d.Log.Error("recertification export", "tenant", route.Tenant(c), "err", err)
	}
}

func (h handlers) exportPDF(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := recert.GetProgress(ctx, route.Store(c), c.Param("campaign"), h.d.Now())
	if err != nil {
		h.fail(c, "campaign", err)
		return
	}
	items, err := recert.Items(ctx, route.Store(c), p.Campaign.CampaignID, recert.ItemFilter{})
	if err != nil {
		h.fail(c, "items", err)
		return
	}
	var buf bytes.Buffer
	if err := recert.WritePDF(&buf, route.Tenant(c), p, items, h.d.Now()); err != nil {
		h.fail(c, "report", err)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="recertification-%s-%s.pdf"`, route.Tenant(c), p.Campaign.CampaignID))
	c.Data(http.StatusOK, "application/pdf", buf.Bytes())
}
