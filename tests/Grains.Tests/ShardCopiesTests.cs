using Catalogs.Grains.Catalogs;

namespace Catalogs.Grains.Tests;

/// <summary>How a read picks among a shard's copies: hedging a slow copy, passing over refusing ones, and asking
/// again while a failover hands the shard from a replica to the primary.</summary>
public class ShardCopiesTests
{
    static readonly TimeSpan Hedge = TimeSpan.FromMilliseconds(200);

    static Task<string> Refuse(string why) =>
        Task.FromException<string>(CatalogRequestException.Unavailable(why));

    [Fact]
    public async Task A_read_refused_by_every_copy_asks_the_primary_again_once_it_took_over()
    {
        // Round one: the old primary's silo is dead and the replica has just handed its shard over; the primary
        // answers from its new silo a moment later.
        var asked = new List<int>();
        var tookOverAt = DateTime.UtcNow + TimeSpan.FromMilliseconds(250);
        var answer = await ShardCopies.FirstAnswerAsync(2, start: 1, copy =>
        {
            asked.Add(copy);
            return copy == 0 && DateTime.UtcNow >= tookOverAt ? Task.FromResult("primary")
                : Refuse(copy == 0 ? "silo dead" : "This replica became the primary");
        }, Hedge, TimeSpan.FromSeconds(3), CancellationToken.None);
        Assert.Equal("primary", answer);
        Assert.Equal([1, 0], asked[..2]);
        Assert.Equal(0, asked[2]); // a later round starts at the primary
        Assert.Equal(0, asked[^1]);
    }

    [Fact]
    public async Task A_shard_no_copy_answers_for_the_whole_window_fails_with_the_refusal()
    {
        int asks = 0;
        var refused = await Assert.ThrowsAsync<CatalogRequestException>(() => ShardCopies.FirstAnswerAsync(2, 0,
            _ => { asks++; return Refuse("down"); }, Hedge, TimeSpan.FromSeconds(1), CancellationToken.None));
        Assert.Equal(CatalogError.Unavailable, refused.Error);
        // Pauses of 100, 200 and 400 ms fit the second; the next, 800 ms, would not: four rounds of both copies.
        Assert.Equal(8, asks);
    }

    [Fact]
    public async Task A_refusal_that_is_not_transient_is_not_asked_again()
    {
        int asks = 0;
        await Assert.ThrowsAsync<InvalidOperationException>(() => ShardCopies.FirstAnswerAsync<string>(2, 0,
            _ => { asks++; return Task.FromException<string>(new InvalidOperationException("bug")); }, Hedge,
            TimeSpan.FromSeconds(3), CancellationToken.None));
        Assert.Equal(1, asks);
    }

    [Fact]
    public async Task A_slow_copy_gets_the_next_one_asked_and_the_first_answer_wins()
    {
        var slow = new TaskCompletionSource<string>();
        var answer = await ShardCopies.FirstAnswerAsync(2, 0,
            copy => copy == 0 ? slow.Task : Task.FromResult("replica"), Hedge, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal("replica", answer);
    }
}
