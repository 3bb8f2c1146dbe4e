package store

// Statements whose plans TestHotStatementsUseTheirIndexes checks.
var (
	ExpiredMessagesSQL = expiredMessagesSQL
	ActivityOrdersSQL  = activityOrdersSQL
	LastingMicros      = int64(lastingMicros)
)
