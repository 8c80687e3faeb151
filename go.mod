module github.com/rewoo-agent/agent

go 1.26
