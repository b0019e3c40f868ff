package refserver

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/testfill"
)

// Every field of the gateway's options reaches a gateway shard as the
// parent has it (the environment entry shard.Start gives the child, read
// back with shard.ReadOptions as `imtool server` does), but for what makes
// it one shard of the cluster. The options are filled by reflection, so a
// field added later is checked too; only Logf (a func) stays behind.
func TestShardOptionsReachTheGateway(t *testing.T) {
	var o Options
	if skipped := testfill.Fill(&o); !slices.Equal(skipped, []string{"Options.Logf"}) {
		t.Fatalf("fields that cannot travel to a gateway shard: %v (only Logf may stay behind: give the new one a JSON form)", skipped)
	}
	o.Logf = nil
	co := ClusterOptions{Gateway: o, PerProc: 777}
	want := co.ShardOptions(3, "127.0.0.1:7000")
	kv, err := shard.OptionsEnv(want)
	if err != nil {
		t.Fatal(err)
	}
	k, v, _ := strings.Cut(kv, "=")
	t.Setenv(k, v)
	var got Options
	if err := shard.ReadOptions(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the shard reads\n%+v\nthe parent sent\n%+v", got, want)
	}
	if got.GatewayID != "gw-3" || got.Dispatcher != "127.0.0.1:7000" || !got.ReusePort || got.MaxConns != 777 || got.Loops != o.Loops {
		t.Fatalf("shard options %+v", got)
	}
	ov, gv := reflect.ValueOf(o), reflect.ValueOf(got)
	for i := range ov.NumField() {
		switch name := ov.Type().Field(i).Name; name {
		case "GatewayID", "Dispatcher", "ReusePort", "MaxConns", "Logf":
		default:
			if !reflect.DeepEqual(ov.Field(i).Interface(), gv.Field(i).Interface()) {
				t.Errorf("%s: the parent had %v, the shard got %v", name, ov.Field(i), gv.Field(i))
			}
		}
	}
	if co.Gateway.Loops = 0; co.ShardOptions(0, "d").Loops != 1 {
		t.Fatal("a shard of a gateway with the default loops should run one")
	}
}
