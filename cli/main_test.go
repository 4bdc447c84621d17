package cli

import (
	"os"
	"testing"

	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// moto is the moto server the integration tests of this package share.
var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }
