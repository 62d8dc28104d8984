package api

import (
	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
)

// Problem is an RFC 9457 problem detail.
type Problem = route.ProblemDetail

func problem(c *gin.Context, status int, detail string) { route.Problem(c, status, detail) }
