// Package activity owns the counts of what happened day by day — customers created, events
// received, consent choices recorded, data-subject requests opened — that the console's
// dashboard and its consent page draw. It holds counts only: no customer ids, no values, no
// field names, so a role that may read customers (or work requests) may see them without any
// personal data being revealed. Each series is read through the permission whose data it
// counts, so the dashboard shows a person only the series their role covers.
package activity
