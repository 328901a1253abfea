"""The end-to-end test harness: a real Docker engine, a real registry with auth, bare git repos as
remotes, and act running workflows in host mode against this checkout of the bundle."""
