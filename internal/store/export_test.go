package store

// Statements whose plans TestHotStatementsUseTheirIndexes checks.
var (
	ExpiredMessagesSQL = expiredMessagesSQL
	ActivityOrdersSQL  = activityOrdersSQL
	LastingMicros      = lastingMicros
	HoldsKindSQL       = holdsKind
	HasSuppressionsSQL = hasSuppressions
)

// AccessExtended counts the flushes of access entries that extended a head this process
// wrote, in one statement (see groupAccess.extend); 0 where the engine has its own access log.
func AccessExtended(e *Engine) int64 {
	if g, ok := e.db.access.(*groupAccess); ok {
		return g.extended.Load()
	}
	return 0
}
