// Command lambda is the team's own Remedy Lambda function: Remedy's SQS
// handler (partial batch failures) with the built-in remediators plus
// s3versioning, configured by the environment variables of package
// deploy. Build it for the provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bootstrap ./cmd/lambda
package main

import (
	"github.com/remedy-sec/remedy/deploy"

	"example.com/remedy-custom/s3versioning"
)

func main() {
	deploy.Lambda(func(c *deploy.Config) {
		c.Remediators = append(c.Remediators, s3versioning.New(func(o *s3versioning.Options) {
			o.UsePathStyle = c.PathStyleS3 // REMEDY_S3_PATH_STYLE
		}))
	})
}
