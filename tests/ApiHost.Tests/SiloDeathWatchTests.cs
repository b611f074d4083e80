using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Catalogs.Grains.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Tests;

/// <summary>An idempotent call whose answer was lost with a silo is sent again as soon as membership declares the
/// silo dead, not after the response timeout; silos dead before the watch began change nothing.</summary>
public class SiloDeathWatchTests
{
    static readonly IOptions<ApiOptions> Options = Microsoft.Extensions.Options.Options.Create(new ApiOptions());

    static SiloDeathWatch Watch() => new(null!, new StartupWaits(), Options, NullLogger<SiloDeathWatch>.Instance);

    static CatalogGateway Gateway(SiloDeathWatch deaths) => new(null!, new StartupWaits(), Options, null!, deaths,
        NullLogger<CatalogGateway>.Instance);

    [Fact]
    public void Only_a_silo_declared_dead_after_the_first_look_fires()
    {
        var watch = Watch();
        var first = watch.NextDeath;
        watch.Observe(new DeadSilos(3, ["S127.0.0.1:1:1"])); // dead before this host looked
        Assert.False(first.IsCancellationRequested);
        watch.Observe(new DeadSilos(4, ["S127.0.0.1:1:1"]));
        Assert.False(first.IsCancellationRequested);
        watch.Observe(new DeadSilos(5, ["S127.0.0.1:1:1", "S127.0.0.1:2:2"]));
        Assert.True(first.IsCancellationRequested);
        Assert.False(watch.NextDeath.IsCancellationRequested); // a fresh token for calls sent from now on
    }

    [Fact]
    public async Task A_call_in_flight_when_a_silo_dies_is_sent_again_and_its_answer_returned()
    {
        var watch = Watch();
        watch.Observe(new DeadSilos(1, []));
        var lost = new TaskCompletionSource<string>(); // never answered: the silo that had it is gone
        int sent = 0;
        var call = Gateway(watch).Idempotent(() => ++sent == 1 ? lost.Task : Task.FromResult("answer"),
            CancellationToken.None);
        await Task.Delay(100);
        Assert.False(call.IsCompleted);
        watch.Observe(new DeadSilos(2, ["S127.0.0.1:2:2"]));
        Assert.Equal("answer", await call.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, sent);
    }

    [Fact]
    public async Task A_call_the_shopper_cancelled_is_not_sent_again()
    {
        var watch = Watch();
        watch.Observe(new DeadSilos(1, []));
        using var shopper = new CancellationTokenSource();
        int sent = 0;
        var call = Gateway(watch).Idempotent(() =>
        {
            sent++;
            return Task.Delay(Timeout.Infinite, shopper.Token).ContinueWith(_ => "late", TaskScheduler.Default);
        }, shopper.Token);
        shopper.Cancel();
        watch.Observe(new DeadSilos(2, ["S127.0.0.1:2:2"]));
        // The request ends as cancelled; nothing is sent for it again.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, sent);
    }
}
