package open

// The backends every build has, registered once for every command.
import _ "github.com/rewoo-agent/agent/engine/backend/cpu"
