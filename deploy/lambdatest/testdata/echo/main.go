// Command echo is a Lambda function for lambdatest's own test: it returns
// its event and an environment variable.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev json.RawMessage) (map[string]any, error) {
		return map[string]any{"event": ev, "greeting": os.Getenv("GREETING")}, nil
	})
}
