package crossaccount_test

import (
	"fmt"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/remediate"
)

func ExampleSessionName() {
	fmt.Println(crossaccount.SessionName("s3-block-public-access", "wiz-issue-42"))
	fmt.Println(crossaccount.SessionName("s3-block-public-access", "")) // shared mode
	fmt.Println(crossaccount.SessionName("sg-ingress", "id with spaces/and slashes"))
	// Output:
	// s3-block-public-access@wiz-issue-42
	// s3-block-public-access@shared
	// sg-ingress@id-with-spaces-and-slashes
}

func ExampleSessionPolicy() {
	spec := remediate.Spec{
		Action:        "sg-ingress",
		ResourceTypes: []string{"securityGroup"},
		Resources: map[string][]string{"securityGroup": {
			"arn:{partition}:ec2:{region}:{account}:security-group/*",
			"arn:{partition}:ec2:{region}:{account}:security-group-rule/*",
		}},
		IAMActions: []string{"ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress"},
	}
	// Shared mode: the account's security groups in its allowed region.
	p, err := crossaccount.SessionPolicy(spec, crossaccount.Scope{Account: "111111111111", Regions: []string{"eu-west-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p)
	// Strict mode: the finding's security group only.
	p, err = crossaccount.SessionPolicy(spec, crossaccount.Scope{
		Account:     "111111111111",
		Regions:     []string{"eu-west-1"},
		ResourceARN: "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0abc",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p)
	// Output:
	// {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:RevokeSecurityGroupIngress"],"Resource":["arn:aws:ec2:eu-west-1:111111111111:security-group-rule/*","arn:aws:ec2:eu-west-1:111111111111:security-group/*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["eu-west-1"]}}},{"Effect":"Allow","Action":["ec2:DescribeSecurityGroups"],"Resource":["*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["eu-west-1"]}}}]}
	// {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:RevokeSecurityGroupIngress"],"Resource":["arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0abc"],"Condition":{"StringEquals":{"aws:RequestedRegion":["eu-west-1"]}}},{"Effect":"Allow","Action":["ec2:DescribeSecurityGroups"],"Resource":["*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["eu-west-1"]}}}]}
}
