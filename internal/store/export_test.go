package store

// Statements whose plans TestHotStatementsUseTheirIndexes checks.
var (
	ExpiredMessagesSQL = expiredMessagesSQL
	ActivityOrdersSQL  = activityOrdersSQL
	LastingMicros      = lastingMicros
)
