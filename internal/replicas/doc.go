// Package replicas tests several "ocireg serve" processes sharing one
// store behind a round-robin balancer (toolstest.Balancer), as operators
// run them behind a load balancer: each request of a client may land on
// another replica, so uploads, tags and deletes must be consistent
// through the store alone.
package replicas
