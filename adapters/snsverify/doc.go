// Package snsverify checks that a message body is an SNS notification
// signed by Amazon SNS for one of the expected topics, before the engine
// reads anything in it. It is a remediate.Authenticator:
//
//	v, err := snsverify.New(snsverify.Options{
//		TopicARNs: []string{"arn:aws:sns:eu-west-1:111122223333:remedy-findings"},
//	})
//	engine, err := remediate.NewEngine(remediate.Options{Authenticator: v, ...})
//
// Without it, anyone who can send to the queue can write an SNS-shaped
// envelope, and the payload's tags (an environment or owner source) are
// whatever they say. The queue policy should still allow only the topic;
// the signature is the second lock.
//
// A body is accepted only when all of these hold, in this order (the
// first that fails names the field in a *remediate.RejectError, and the
// message is rejected and audited, never retried):
//
//   - it is a JSON SNS envelope of Type "Notification" (raw message
//     delivery must be off on the subscription: a raw body carries no
//     signature);
//   - with Options.MaxAge set, its Timestamp is no older than that (a
//     replay window; off by default, because a replay from the
//     dead-letter queue can be days old);
//   - its TopicArn is one of Options.TopicARNs;
//   - SignatureVersion is "2" (SHA256withRSA), or "1" (SHA1withRSA) only
//     with Options.AllowSignatureV1 (SNS signs with version 1 unless the
//     topic's SignatureVersion attribute is 2: set it);
//   - SigningCertURL is https://sns.<region>.amazonaws.com/… (…com.cn in
//     aws-cn) for the topic's own region, ending in .pem, with no user,
//     port, query or fragment — so no other host is ever contacted;
//   - the certificate there parses, is within its validity period, and
//     holds an RSA key;
//   - Signature verifies over the string SNS signs: Message, MessageId,
//     Subject (when present), Timestamp, TopicArn and Type, each as
//     "Name\nvalue\n".
//
// Fetching a certificate is the only I/O. A network error, a timeout or
// a 5xx from the certificate host is transient: the message is retried,
// never accepted unverified. Certificates are cached by URL until they
// expire (at most Options.MaxCerts of them); concurrent first requests
// for one URL share one fetch.
//
// A Lambda function invoked by SNS directly receives notifications that
// AWS has already authenticated; adapters/awslambda's SNS handler still
// passes the signature fields on, so the same engine can verify them.
// moto does not sign its notifications, so tests against moto run
// without this authenticator.
package snsverify
