package hashivault

import (
	"encoding/json"
	"fmt"
)

// leaseFields turns the data of a dynamic secret into driver.Entry fields:
// strings as they are, every other JSON value as its compact JSON text.
func leaseFields(data map[string]any) map[string]string {
	out := make(map[string]string, len(data))
	for k, v := range data {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		default:
			b, err := json.Marshal(v)
			if err != nil {
				out[k] = fmt.Sprint(v)
				continue
			}
			out[k] = string(b)
		}
	}
	return out
}
