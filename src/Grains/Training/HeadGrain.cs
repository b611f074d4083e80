using System.Security.Cryptography;

namespace Catalogs.Grains.Training;

/// <summary>What a head grain persists: the head's bytes, written once (a head never changes: its key is its
/// hash), so a whole-state write is the one write it ever gets.</summary>
[GenerateSerializer, Alias("Catalogs.HeadState")]
public sealed class HeadState
{
    [Id(0)] public byte[]? Bytes { get; set; }
}

public sealed class HeadGrain(
    [PersistentState("head", CatalogsHosting.StorageName)] IPersistentState<HeadState> state) : Grain, IHeadGrain
{
    public Task<byte[]?> Get(CancellationToken cancellationToken) => Task.FromResult(state.State.Bytes);

    public async Task Put(byte[] bytes, CancellationToken cancellationToken)
    {
        if (Convert.ToHexStringLower(SHA256.HashData(bytes)) != this.GetPrimaryKeyString())
            throw new ArgumentException("The head's bytes do not hash to its key.", nameof(bytes));
        if (state.State.Bytes is not null) return;
        state.State.Bytes = bytes;
        await state.WriteStateAsync(cancellationToken);
    }
}
