package evidence

import (
	"encoding/json"
	"fmt"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// JSON marshals v, which must be a plain struct of strings, numbers,
// booleans and slices: such a value always marshals, so a failure is a
// programming error and panics.
func JSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("evidence: marshal %T: %v", v, err))
	}
	return b
}

// RequestIDs appends the AWS request id found in each md to ids.
func RequestIDs(ids []string, md ...middleware.Metadata) []string {
	for _, m := range md {
		if id, ok := awsmiddleware.GetRequestIDMetadata(m); ok && id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
