package httpapi

import "reflect"

// trackingMessage stands for the body of a tracking route in the route table. The body is
// read by ingest.Parse rather than decoded into a type: Segment libraries send numbers where
// strings belong, two wire shapes (one message, or a batch of them) share a route, and
// whatever Steward may not keep is dropped unread. Its schema is therefore the one written
// by hand in this package.
type trackingMessage struct{}

func init() {
	str := map[string]any{"type": "string"}
	dateTime := map[string]any{"type": "string", "format": "date-time"}
	object := map[string]any{"type": "object"}
	customSchemas[reflect.TypeFor[trackingMessage]()] = map[string]any{"type": "object",
		"description": "A Segment message (identify, track, page, screen, group, alias) or, on /v1/batch, " +
			"{\"batch\": [messages], \"context\": {…}, \"sentAt\": …}. userId or anonymousId is required; at most 32 KB " +
			"per message, 500 KB and 2,500 messages per batch. Other properties are ignored.",
		"properties": map[string]any{"type": str, "messageId": str, "userId": str, "anonymousId": str, "previousId": str,
			"groupId": str, "event": str, "name": str, "properties": object, "traits": object, "context": object,
			"timestamp": dateTime, "originalTimestamp": dateTime, "sentAt": dateTime, "writeKey": str,
			"batch": map[string]any{"type": "array", "items": object}}}
	schemaNames[reflect.TypeFor[projectSettings]()] = "ProjectSettings"
}

// projectSettings is what analytics.js loads for a write key: the Segment.io integration
// pointed at this server, every message type enabled, nothing else to load.
type projectSettings struct {
	AnalyticsNextEnabled      bool                `json:"analyticsNextEnabled"`
	EdgeFunction              struct{}            `json:"edgeFunction"`
	EnabledMiddleware         struct{}            `json:"enabledMiddleware"`
	Integrations              settingsIntegration `json:"integrations"`
	LegacyVideoPluginsEnabled bool                `json:"legacyVideoPluginsEnabled"`
	Metrics                   settingsMetrics     `json:"metrics"`
	MiddlewareSettings        struct{}            `json:"middlewareSettings"`
	Plan                      settingsPlan        `json:"plan"`
	RemotePlugins             []struct{}          `json:"remotePlugins"`
}

type settingsIntegration struct {
	Segment segmentSettings `json:"Segment.io"`
}

type segmentSettings struct {
	AddBundledMetadata    bool     `json:"addBundledMetadata"`
	APIHost               string   `json:"apiHost"`
	APIKey                string   `json:"apiKey"`
	Protocol              string   `json:"protocol" enum:"http,https"`
	UnbundledIntegrations []string `json:"unbundledIntegrations"`
}

type settingsMetrics struct {
	SampleRate int `json:"sampleRate"`
}

type settingsPlan struct {
	Group    settingsDefault `json:"group"`
	Identify settingsDefault `json:"identify"`
	Track    settingsTrack   `json:"track"`
}

type settingsDefault struct {
	Default settingsEnabled `json:"__default"`
}

type settingsEnabled struct {
	Enabled bool `json:"enabled"`
}

type settingsTrack struct {
	Default settingsTrackDefault `json:"__default"`
}

type settingsTrackDefault struct {
	Enabled      bool     `json:"enabled"`
	Integrations struct{} `json:"integrations"`
}

func settingsFor(key, host, proto string) projectSettings {
	on := settingsDefault{Default: settingsEnabled{Enabled: true}}
	return projectSettings{
		AnalyticsNextEnabled: true,
		Integrations: settingsIntegration{Segment: segmentSettings{APIKey: key, APIHost: host, Protocol: proto,
			UnbundledIntegrations: []string{}}},
		Plan:          settingsPlan{Group: on, Identify: on, Track: settingsTrack{Default: settingsTrackDefault{Enabled: true}}},
		RemotePlugins: []struct{}{},
	}
}
